/// What `HTTPRequestParser.next()` found.
public enum HTTPParseResult: Sendable, Equatable {
    /// No complete request is buffered yet.
    case needMoreData
    /// One complete request; call `next()` again for pipelined ones.
    case request(HTTPRequest)
    /// The bytes are not an acceptable request; the parser stays in this failure.
    case failure(HTTPParseError)
}
