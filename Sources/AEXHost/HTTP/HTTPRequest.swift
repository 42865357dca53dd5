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
