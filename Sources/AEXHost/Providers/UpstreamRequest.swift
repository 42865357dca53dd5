/// One request to a provider, as the host sends it (the plugin described it; the host added the key).
public struct UpstreamRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var connectTimeoutMilliseconds: Int
    public var totalTimeoutMilliseconds: Int
    public var responseBytesMax: Int
    /// Streams: no total deadline; the transfer fails when no byte arrives for this long instead.
    public var idleTimeoutSeconds: Int? = nil
}

/// What a stream consumer does with a chunk of a 2xx answer.
public enum StreamAction: Sendable {
    case accepted
    /// Not consumed: the client keeps it and delivers it again after `Egress.resume`.
    case pause
}

/// How a provider call ended.
public enum UpstreamResult: Sendable {
    /// The provider answered (any status).
    case response(status: Int, contentType: String?, body: [UInt8])
    /// No answer: connection refused or reset, DNS, TLS (→ 502 upstream_unavailable).
    case unavailable(String)
    /// No complete answer in time (→ 504 upstream_timeout).
    case timedOut
    /// The answer exceeded the response size limit (→ 502).
    case tooLarge
    /// Stopped by AEX (the client went away).
    case cancelled
}
