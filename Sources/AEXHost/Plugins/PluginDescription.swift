/// What a plugin says of itself through its table, as a value: recorded at install as the
/// plugin's manifest (canonical JSON), printed by `aex plugin`, and compared at load.
public struct PluginDescription: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case provider, tool
    }

    public var name: String
    public var version: String
    public var kind: Kind
    public var abiMajor: Int
    public var abiMinor: Int
    /// Provider types (provider plugins) or tool names (tool plugins).
    public var provides: [String]
    /// A provider plugin that translates streams (ABI 1.1's `translate_stream_event`).
    public var streams: Bool
    /// A tool plugin's tools (ABI 1.2); their names are its `provides`.
    public var tools: [ToolDescription]

    public init(name: String, version: String, kind: Kind, abiMajor: Int, abiMinor: Int, provides: [String], streams: Bool,
                tools: [ToolDescription] = []) {
        self.tools = tools
        self.name = name
        self.version = version
        self.kind = kind
        self.abiMajor = abiMajor
        self.abiMinor = abiMinor
        self.provides = provides
        self.streams = streams
    }

    public var abi: String { "\(abiMajor).\(abiMinor)" }

    /// Names are used in file names and URLs: letters, digits, `.`, `_`, `-`, starting with a
    /// letter or digit.
    static let nameBytesMax = 64
    static let versionBytesMax = 32

    /// Why the fields cannot be accepted, or nil.
    static func problem(name: String, version: String, provides: [String]) -> String? {
        func plain(_ text: String, _ extra: Set<UInt8>) -> Bool {
            guard let first = text.utf8.first, Self.isAlphanumeric(first) else { return false }
            return text.utf8.allSatisfy { Self.isAlphanumeric($0) || extra.contains($0) }
        }
        let separators: Set<UInt8> = [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-")]
        guard name.utf8.count <= nameBytesMax, plain(name, separators) else {
            return "name '\(name)' must be 1 to \(nameBytesMax) letters, digits, '.', '_' or '-'"
        }
        guard version.utf8.count <= versionBytesMax, plain(version, separators.union([UInt8(ascii: "+")])) else {
            return "version '\(version)' must be 1 to \(versionBytesMax) letters, digits, '.', '+', '_' or '-'"
        }
        for item in provides where item.utf8.count > nameBytesMax || !plain(item, separators) {
            return "provided name '\(item)' must be 1 to \(nameBytesMax) letters, digits, '.', '_' or '-'"
        }
        guard Set(provides).count == provides.count else { return "provides names one thing twice" }
        return nil
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
    }

    /// Orders versions by their dot-separated parts, numerically where both parts are numbers
    /// (`1.10.0` is newer than `1.9.0`), else by text.
    public static func isNewer(_ version: String, than other: String) -> Bool {
        let a = version.split(separator: "."), b = other.split(separator: ".")
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? String(a[index]) : "0"
            let y = index < b.count ? String(b[index]) : "0"
            if x == y { continue }
            if let m = Int(x), let n = Int(y) { return m > n }
            return x > y
        }
        return false
    }

    // MARK: The manifest

    public var json: JSONValue {
        .object([
            "name": .string(name), "version": .string(version), "kind": .string(kind.rawValue), "abi": .string(abi),
            "provides": .array(provides.map { .string($0) }), "streams": .bool(streams),
            "tools": .array(tools.map(\.json)),
        ])
    }

    public init(json: JSONValue) throws(ConfigurationError) {
        guard case .object(let object) = json, case .string(let name)? = object["name"], case .string(let version)? = object["version"],
              case .string(let kindText)? = object["kind"], let kind = Kind(rawValue: kindText), case .string(let abi)? = object["abi"],
              case .array(let items)? = object["provides"]
        else { throw ConfigurationError("a plugin manifest without name, version, kind, abi or provides") }
        let parts = abi.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 2 else { throw ConfigurationError("a plugin manifest with abi '\(abi)'") }
        var provides: [String] = []
        for item in items {
            guard case .string(let text) = item else { throw ConfigurationError("a plugin manifest with a non-text provides") }
            provides.append(text)
        }
        var streams = false
        if case .bool(let flag)? = object["streams"] { streams = flag }
        var tools: [ToolDescription] = []
        if case .array(let items)? = object["tools"] {
            for item in items { tools.append(try ToolDescription(json: item)) }
        }
        self.init(name: name, version: version, kind: kind, abiMajor: parts[0], abiMinor: parts[1], provides: provides, streams: streams,
                  tools: tools)
    }
}
