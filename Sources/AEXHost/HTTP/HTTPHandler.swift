/// The application behind the HTTP server. `handle` runs on the connection's event-loop thread and
/// must not block; it answers now or later through the responder (from any thread).
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest, responder: HTTPResponder)
}
