/// A complete (fixed-length) response. The server adds `content-length`, `x-request-id` and
/// `connection`; handlers set the status, their own headers and the body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: Int, _ value: JSONValue, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        var bytes = [UInt8]()
        value.write(into: &bytes)
        bytes.append(0x0a)
        return HTTPResponse(status: status, headers: [("content-type", "application/json")] + headers, body: bytes)
    }

    /// An error in OpenAI's shape, so OpenAI SDKs raise the matching exception.
    public static func error(
        _ status: Int, code: String, message: String, headers: [(name: String, value: String)] = []
    ) -> HTTPResponse {
        json(status, .object(["error": .object([
            "message": .string(message), "type": .string(errorType(status)), "code": .string(code), "param": .null,
        ])]), headers: headers)
    }

    static func errorType(_ status: Int) -> String {
        switch status {
        case 401: return "authentication_error"
        case 403, 423: return "permission_error"
        case 404: return "not_found_error"
        case 429: return "rate_limit_error"
        case 402: return "insufficient_quota"
        case 500...: return "server_error"
        default: return "invalid_request_error"
        }
    }

    /// The status line, headers and body, ready to send.
    func serialized(requestID: String, keepAlive: Bool, includeBody: Bool = true) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(160 + body.count)
        HTTPResponseHead.writeStatusLine(status, into: &out)
        for header in headers { HTTPResponseHead.writeHeader(header.name, header.value, into: &out) }
        HTTPResponseHead.writeHeader("content-length", String(body.count), into: &out)
        HTTPResponseHead.writeHeader("x-request-id", requestID, into: &out)
        if !keepAlive { HTTPResponseHead.writeHeader("connection", "close", into: &out) }
        out.append(0x0d)
        out.append(0x0a)
        if includeBody { out.append(contentsOf: body) }
        return out
    }
}
