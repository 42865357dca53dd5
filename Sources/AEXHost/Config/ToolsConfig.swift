import Foundation

/// `config/tools.yaml` (optional): the hosts `http_get` may fetch from, and per-tool overrides of a
/// tool's price and timeout. Read and validated with `models.yaml` and swapped with it on reload.
///
///     version: 1
///     http_get:
///       allowed_hosts:
///         - docs.python.org
///     tools:
///       calculator:
///         price_micro: 20
///         timeout_ms: 1000
public struct ToolsConfig: Sendable, Equatable {
    public struct Override: Sendable, Equatable {
        public var priceMicro: Int64?
        public var timeoutMilliseconds: Int?
    }

    /// Host names (lower-case) `http_get` may fetch from; none: `http_get` is off.
    public var allowedHosts: [String] = []
    public var overrides: [String: Override] = [:]

    public init(allowedHosts: [String] = [], overrides: [String: Override] = [:]) {
        self.allowedHosts = allowedHosts
        self.overrides = overrides
    }

    static let supportedVersion = 1
    static let priceMicroRange: ClosedRange<Int64> = 0...1_000_000_000_000
    static let timeoutMillisecondsRange: ClosedRange<Int64> = 1...600_000
    static let hostBytesMax = 253

    /// The file at `path`, or the empty configuration when there is none. `toolNames`: the tools
    /// that exist (an override of another name is an error).
    public static func load(path: String, toolNames: Set<String>) throws(YAMLError) -> ToolsConfig {
        guard FileManager.default.fileExists(atPath: path) else { return ToolsConfig() }
        return try parse(try ModelsConfig.readFile(path), file: path, toolNames: toolNames)
    }

    public static func parse(_ text: String, file: String, toolNames: Set<String>) throws(YAMLError) -> ToolsConfig {
        let root = try YAMLSubsetParser.parse(text, file: file)
        if root.isNull { return ToolsConfig() }
        let fields = try root.keyedMapping("the top level", allowed: ["version", "http_get", "tools"], file: file)
        guard let versionField = fields["version"],
              case .scalar(let versionText, quoted: false, _) = versionField.value, versionText == String(supportedVersion)
        else { throw YAMLError(file: file, at: root.mark, "'version: \(supportedVersion)' is required") }
        var config = ToolsConfig()
        if let http = fields["http_get"] {
            let httpFields = try http.value.keyedMapping("http_get", allowed: ["allowed_hosts"], file: file)
            if let hosts = httpFields["allowed_hosts"] {
                guard case .sequence(let items, _) = hosts.value else {
                    throw YAMLError(file: file, at: hosts.value.mark, "http_get.allowed_hosts must be a list of host names")
                }
                for item in items {
                    let host = try item.string("a host of http_get.allowed_hosts", file: file).lowercased()
                    guard !host.isEmpty, host.utf8.count <= hostBytesMax,
                          host.utf8.allSatisfy({ $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ":")
                              || (0x30...0x39).contains($0) || (0x61...0x7a).contains($0) })
                    else { throw YAMLError(file: file, at: item.mark, "'\(host)' is not a host name (letters, digits, '.', '-', ':')") }
                    config.allowedHosts.append(host)
                }
            }
        }
        if let tools = fields["tools"] {
            for entry in try tools.value.mappingEntries("tools", file: file, nullIsEmpty: true) {
                guard toolNames.contains(entry.key) else {
                    let known = toolNames.isEmpty ? "none are enabled" : toolNames.sorted().joined(separator: ", ")
                    throw YAMLError(file: file, at: entry.keyMark, "unknown tool '\(entry.key)' (tools: \(known))")
                }
                let toolFields = try entry.value.keyedMapping("tool '\(entry.key)'", allowed: ["price_micro", "timeout_ms"], file: file)
                var override = Override()
                if let price = toolFields["price_micro"] {
                    override.priceMicro = try price.value.integer("price_micro of tool '\(entry.key)'", in: priceMicroRange, file: file)
                }
                if let timeout = toolFields["timeout_ms"] {
                    override.timeoutMilliseconds = Int(try timeout.value.integer(
                        "timeout_ms of tool '\(entry.key)'", in: timeoutMillisecondsRange, file: file))
                }
                config.overrides[entry.key] = override
            }
        }
        return config
    }
}
