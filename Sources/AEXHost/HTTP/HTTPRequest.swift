/// One complete HTTP request: head and whole body.
public struct HTTPRequest: Sendable, Equatable {
    /// The method token, uppercase ASCII letters (e.g. `GET`).
    public var method: String
    /// The raw request-target: origin-form (`/path?query`) or `*` (OPTIONS only).
    public var target: String
    /// `target` without the query (everything before the first `?`).
    public var path: String
    /// Everything after the first `?` (possibly empty), or nil when the target has no `?`.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// The body, decoded from chunked framing when it was chunked; empty without body framing.
    public var body: [UInt8]
    /// Whether the connection may carry another request after this one (from the version and
    /// the `Connection` header).
    public var keepAlive: Bool

    public init(
        method: String, target: String, path: String, query: String?, version: HTTPVersion,
        headers: HTTPHeaders, body: [UInt8], keepAlive: Bool
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }
}

extension HTTPRequest {
    /// The first `name=value` of the query, percent-decoded (`+` is a space); nil when absent or
    /// not valid UTF-8 after decoding.
    public func queryValue(_ name: String) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard Self.percentDecoded(parts[0]) == name else { continue }
            return parts.count == 2 ? Self.percentDecoded(parts[1]) : ""
        }
        return nil
    }

    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        func hexValue(_ byte: UInt8?) -> UInt8? {
            switch byte {
            case let b? where (0x30...0x39).contains(b): return b - 0x30
            case let b? where (0x41...0x46).contains(b): return b - 0x41 + 10
            case let b? where (0x61...0x66).contains(b): return b - 0x61 + 10
            default: return nil
            }
        }
        while let byte = utf8.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = hexValue(utf8.next()), let low = hexValue(utf8.next()) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+"): bytes.append(0x20)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
