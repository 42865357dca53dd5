/// The way back to the client for one request. Usable from any thread: calls made off the loop are
/// posted to it. Exactly one of `respond` or `startStream`…`endStream` is honoured; later calls, or
/// calls after the client went away, are ignored.
public final class HTTPResponder: @unchecked Sendable {
    public let requestID: String
    public let loop: EventLoop
    private let serial: UInt64
    /// Where `respond` sends the answer instead of the connection (another protocol's envelope
    /// around a call's answer, or one answer of several gathered into one).
    private let deliver: (@Sendable (HTTPResponse) -> Void)?
    // Loop-confined.
    private weak var connection: HTTPConnection?

    init(requestID: String, serial: UInt64, loop: EventLoop, connection: HTTPConnection,
         deliver: (@Sendable (HTTPResponse) -> Void)? = nil) {
        self.requestID = requestID
        self.serial = serial
        self.loop = loop
        self.connection = connection
        self.deliver = deliver
    }

    /// A responder for the same request (same loop, same client) whose `respond` hands the answer
    /// to `deliver` instead of sending it: lets a handler run a call built for one protocol and
    /// answer in another (MCP around a tool call). Streams are not for it. Loop only; nil when the
    /// client has already gone.
    public func delivering(to deliver: @escaping @Sendable (HTTPResponse) -> Void) -> HTTPResponder? {
        guard let connection else { return nil }
        return HTTPResponder(requestID: requestID, serial: serial, loop: loop, connection: connection, deliver: deliver)
    }

    public func respond(_ response: HTTPResponse) {
        if let deliver { return deliver(response) }
        onLoop { $0.finish(response, requestID: self.requestID, serial: self.serial) }
    }

    /// Sends the head of a chunked response (for example `text/event-stream`).
    public func startStream(_ head: HTTPResponseHead) {
        onLoop { $0.startStream(head, requestID: self.requestID, serial: self.serial, observer: self) }
    }

    /// Streams: be told (`onClose`) if the client leaves even before the stream's head is sent.
    public func watchConnection() {
        onLoop { $0.watch(self, serial: self.serial) }
    }

    /// Streams, loop only: called when the client's pending output has been written out.
    public var onDrain: (() -> Void)?
    /// Streams, loop only: called once if the connection closes before the stream ended.
    public var onClose: (() -> Void)?

    public func sendChunk(_ bytes: [UInt8]) {
        onLoop { $0.sendChunk(bytes, serial: self.serial) }
    }

    public func endStream() {
        onLoop { $0.endStream(serial: self.serial, closingConnection: false) }
    }

    /// Ends the stream and closes the connection once what was accepted is written (a dropped
    /// subscriber: the client must see the end, not wait on a connection kept alive).
    public func endStreamAndClose() {
        onLoop { $0.endStream(serial: self.serial, closingConnection: true) }
    }

    /// Bytes accepted but not yet written to the client's socket (for back-pressure). Loop only.
    public var pendingOutputBytes: Int { connection?.pendingOutputBytes ?? 0 }

    /// False once the client has gone away. Loop only.
    public var isConnected: Bool { connection.map { !$0.isClosed && !$0.peerClosed } ?? false }

    private func onLoop(_ body: @escaping @Sendable (HTTPConnection) -> Void) {
        if loop.inLoop {
            if let connection { body(connection) }
        } else {
            loop.execute { [self] in
                if let connection { body(connection) }
            }
        }
    }
}
