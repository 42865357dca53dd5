import Foundation

/// Every limit of the HTTP server, with its unit last. Defaults follow SPEC section 13; each can
/// be set through the environment variable named beside it (read once at daemon start).
public struct HTTPServerLimits: Sendable, Equatable {
    public var headerBytesMax = 32 * 1024                 // AEX_HEADER_BYTES_MAX
    public var bodyBytesMax = 8 * 1024 * 1024             // AEX_BODY_BYTES_MAX
    public var headerReadTimeoutSeconds = 10              // AEX_HEADER_READ_TIMEOUT_SECONDS
    /// The whole body must arrive within this time of the end of the head (408 otherwise), however
    /// short each pause in it (each pause is bounded by `headerReadTimeoutSeconds`).
    public var bodyReadTimeoutSeconds = 60                // AEX_BODY_READ_TIMEOUT_SECONDS
    public var idleKeepAliveSeconds = 60                  // AEX_IDLE_KEEPALIVE_SECONDS
    public var connectionsMax = 4_096                     // AEX_CONNECTIONS_MAX
    public var drainTimeoutSeconds = 30                   // AEX_DRAIN_TIMEOUT_SECONDS
    public var listenBacklog = 4_096

    public init() {}

    public var parserLimits: HTTPParserLimits {
        HTTPParserLimits(headerBytesMax: headerBytesMax, bodyBytesMax: bodyBytesMax)
    }

    nonisolated(unsafe) public static let environmentNames: [(name: String, path: WritableKeyPath<HTTPServerLimits, Int>)] = [
        ("AEX_HEADER_BYTES_MAX", \.headerBytesMax),
        ("AEX_BODY_BYTES_MAX", \.bodyBytesMax),
        ("AEX_HEADER_READ_TIMEOUT_SECONDS", \.headerReadTimeoutSeconds),
        ("AEX_BODY_READ_TIMEOUT_SECONDS", \.bodyReadTimeoutSeconds),
        ("AEX_IDLE_KEEPALIVE_SECONDS", \.idleKeepAliveSeconds),
        ("AEX_CONNECTIONS_MAX", \.connectionsMax),
        ("AEX_DRAIN_TIMEOUT_SECONDS", \.drainTimeoutSeconds),
    ]

    /// Defaults overridden by positive integers found in `environment`; anything else is an error.
    public static func from(environment: [String: String]) throws -> HTTPServerLimits {
        var limits = HTTPServerLimits()
        for (name, path) in environmentNames {
            guard let text = environment[name] else { continue }
            guard let value = Int(text), value > 0 else {
                throw ConfigurationError("\(name) must be a positive integer, got '\(text)'")
            }
            limits[keyPath: path] = value
        }
        return limits
    }
}
