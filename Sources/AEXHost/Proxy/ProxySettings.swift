/// Limits of the proxy path, with their units (environment variable beside each).
public struct ProxySettings: Sendable {
    public var upstreamInFlightMax = 1_024             // AEX_UPSTREAM_IN_FLIGHT_MAX
    public var upstreamResponseBytesMax = 32 << 20     // AEX_UPSTREAM_RESPONSE_BYTES_MAX

    public init() {}

    public static func from(environment: [String: String]) throws -> ProxySettings {
        var settings = ProxySettings()
        for (name, path) in [("AEX_UPSTREAM_IN_FLIGHT_MAX", \ProxySettings.upstreamInFlightMax),
                             ("AEX_UPSTREAM_RESPONSE_BYTES_MAX", \ProxySettings.upstreamResponseBytesMax)] {
            guard let text = environment[name] else { continue }
            guard let value = Int(text), value > 0 else { throw ConfigurationError("\(name) must be a positive integer, got '\(text)'") }
            settings[keyPath: path] = value
        }
        return settings
    }
}
