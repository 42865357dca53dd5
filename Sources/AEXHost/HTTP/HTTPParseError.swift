/// Why bytes could not be parsed as a request. The server answers with `status` and `message`
/// and closes the connection.
///
/// The associated reasons are fixed phrases written by the parser; they never contain request
/// bytes, so `message` is safe to send to the client and to log.
public enum HTTPParseError: Error, Equatable, Sendable {
    /// Syntax the parser refuses (400).
    case malformed(String)
    /// Header section (or trailers) over `headerBytesMax`, or more than `headerCountMax` fields (431).
    case headersTooLarge
    /// Declared or decoded body over `bodyBytesMax` (413).
    case bodyTooLarge
    /// Ambiguous body framing that two parsers could read differently (400).
    case smuggling(String)
    /// A Transfer-Encoding other than exactly `chunked` (501).
    case unsupportedTransferEncoding
    /// An HTTP version other than 1.0 and 1.1 (505).
    case versionNotSupported

    /// The HTTP status code to answer with.
    public var status: Int {
        switch self {
        case .malformed, .smuggling: 400
        case .headersTooLarge: 431
        case .bodyTooLarge: 413
        case .unsupportedTransferEncoding: 501
        case .versionNotSupported: 505
        }
    }

    /// One short sentence for the client.
    public var message: String {
        switch self {
        case .malformed(let reason): "The request is malformed: \(reason)."
        case .headersTooLarge: "The request header section is too large."
        case .bodyTooLarge: "The request body is too large."
        case .smuggling(let reason): "The request framing is ambiguous: \(reason)."
        case .unsupportedTransferEncoding: "The only supported transfer coding is chunked."
        case .versionNotSupported: "Only HTTP/1.0 and HTTP/1.1 are supported."
        }
    }
}
