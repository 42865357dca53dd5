/// The application behind the HTTP server. `handle` runs on the connection's event-loop thread and
/// must not block; it answers now or later through the responder (from any thread).
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest, responder: HTTPResponder)

    /// Called on the loop thread, at most once per request, when a request's head has arrived but
    /// its body has not fully arrived yet (`head.body` is empty); never for a request whose body
    /// came with its head. A response refuses the request at once: it is sent and the connection
    /// closes without reading the body. Nil lets the body be read; `handle` then gets the whole
    /// request and must make every check itself. Must be cheap and must not block.
    func screen(head: HTTPRequest) -> HTTPResponse?
}

extension HTTPHandler {
    public func screen(head: HTTPRequest) -> HTTPResponse? { nil }
}
