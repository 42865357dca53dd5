/// A request refused before any provider call: status, SPEC §4 code and a message safe to show.
public struct CallRefusal: Error, Sendable, Equatable {
    public var status: Int
    public var code: String
    public var message: String
    public var retryAfterSeconds: Int?

    public init(_ status: Int, _ code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    var response: HTTPResponse {
        .error(status, code: code, message: message, headers: retryAfterSeconds.map { [("retry-after", String($0))] } ?? [])
    }
}
