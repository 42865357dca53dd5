import CLinux
import Glibc

/// One client connection: bytes in through the parser, one request handled at a time (pipelined
/// requests wait in the parser's buffer), responses out in order. Loop-confined.
///
/// Invariants: at most one request is being handled; output is written in order and never dropped
/// while the connection is open; a parse failure is answered and then the connection closes; the
/// parser's buffer stays bounded (reading pauses while a request is being handled and the buffer
/// already holds a whole request's worth of bytes); after the client's end of input (half-close)
/// every complete request already received is still answered, in order, before the close.
final class HTTPConnection: EventSource, TurnEndObserver {
    enum Phase { case awaitingRequest, handling, streaming, closed }

    let fd: Int32
    private unowned let host: HTTPLoopServer
    private var parser: HTTPRequestParser
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var phase = Phase.awaitingRequest
    private var keepAlive = true
    private var closeAfterFlush = false
    private var readingPaused = false
    private var writeInterest = false
    /// Output written during this loop turn is sent at its end, in one send (a stream's events
    /// relayed from one provider read, a response and the next pipelined one).
    private var flushAtTurnEnd = false
    private var processing = false
    /// A response to HEAD carries the headers of the GET answer and no body.
    private var answeringHead = false
    /// Numbers the requests of this connection; a responder acts only for its own request.
    private var requestSerial: UInt64 = 0
    /// The responder of the stream in progress, told when output drains or the connection closes.
    private var streamObserver: HTTPResponder?
    private(set) var peerClosed = false
    /// While a head arrives: when it must be complete. While a body arrives: when the current pause
    /// in it must end (reset by every byte).
    private var requestDeadlineMillis: Int64?
    /// While a body arrives: when it must be complete, however steadily it trickles.
    private var bodyDeadlineMillis: Int64?
    /// The handler has screened the head of the request whose body is arriving.
    private var headScreened = false
    private var lastActivityMillis: Int64
    private var lastWriteProgressMillis: Int64

    init(fd: Int32, host: HTTPLoopServer, nowMillis: Int64) {
        self.fd = fd
        self.host = host
        parser = HTTPRequestParser(limits: host.limits.parserLimits)
        lastActivityMillis = nowMillis
        lastWriteProgressMillis = nowMillis
    }

    var isClosed: Bool { phase == .closed }
    var pendingOutputBytes: Int { output.count - outputOffset }
    var isIdle: Bool { phase == .awaitingRequest && !parser.isMidRequest && pendingOutputBytes == 0 }

    static let readEvents = AEX_EPOLLIN | AEX_EPOLLRDHUP
    static let streamBufferKeptBytesMax = 16 * 1024

    func handle(events: UInt32) {
        if events & (AEX_EPOLLERR | AEX_EPOLLHUP) != 0 {
            close()  // reset, or shut down both ways: nothing more can be exchanged
            return
        }
        if events & (AEX_EPOLLIN | AEX_EPOLLRDHUP) != 0 { readAvailable() }
        if phase != .closed, events & AEX_EPOLLOUT != 0 { flush() }
    }

    // MARK: Reading

    private func readAvailable() {
        let buffer = host.readBuffer
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count > 0 {
                parser.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                lastActivityMillis = host.nowMillis
                if parser.isReceivingBody { requestDeadlineMillis = nil }
                if count < buffer.count { break }
            } else if count == 0 {
                peerClosed = true
                break
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                break
            } else {
                close()
                return
            }
        }
        if peerClosed {
            // A client that hangs up during a stream (or while one is being set up) has gone: stop
            // now (the stream's owner is told).
            if phase == .streaming || streamObserver != nil { return close() }
            // The client sent its last byte (it may still read): nothing more to read; every
            // complete request already received is answered in order, then the connection closes
            // (`processBuffered` closes it when it finds no further complete request).
            readingPaused = true
            updateInterest()
        }
        processBuffered()
    }

    private func processBuffered() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while phase == .awaitingRequest, !closeAfterFlush {
            switch parser.next() {
            case .needMoreData:
                if peerClosed {
                    // No complete request is left and no byte will come: an incomplete one is dropped.
                    closeAfterFlush = true
                    if pendingOutputBytes == 0 { close() }
                    return
                }
                if parser.isReceivingBody, !headScreened, screenHead() { return }
                if parser.isMidRequest {
                    if requestDeadlineMillis == nil {
                        requestDeadlineMillis = host.nowMillis + Int64(host.limits.headerReadTimeoutSeconds) * 1_000
                    }
                } else {
                    requestDeadlineMillis = nil
                }
                if parser.awaitsContinue {
                    parser.continueAnswered()
                    write(HTTPResponseHead.continueInterim)
                }
                resumeReadingIfPaused()
                return
            case .request(let request):
                requestDeadlineMillis = nil
                bodyDeadlineMillis = nil
                headScreened = false
                keepAlive = request.keepAlive && !host.draining
                answeringHead = request.method == "HEAD"
                phase = .handling
                requestSerial &+= 1
                let responder = HTTPResponder(
                    requestID: host.nextRequestID(), serial: requestSerial, loop: host.loop, connection: self)
                host.handler.handle(request, responder: responder)
                if phase != .awaitingRequest, parser.bufferedByteCount > host.limits.headerBytesMax + host.limits.bodyBytesMax {
                    readingPaused = true
                    updateInterest()
                }
            case .failure(let error):
                let code = switch error.status {
                case 413, 431: "request_too_large"
                case 501, 505: "unsupported_request"
                default: "invalid_request"
                }
                failAndClose(HTTPResponse.error(error.status, code: code, message: error.message))
                return
            }
        }
    }

    /// The head of a request is in and its body is not: starts the body's deadline and lets the
    /// handler refuse the request before the body is read. True when it refused (the connection then
    /// closes after the answer). A request that arrives whole in one read never gets here.
    private func screenHead() -> Bool {
        headScreened = true
        bodyDeadlineMillis = host.nowMillis + Int64(host.limits.bodyReadTimeoutSeconds) * 1_000
        guard let head = parser.headAwaitingBody, let refusal = host.handler.screen(head: head) else { return false }
        failAndClose(refusal)
        return true
    }

    private func resumeReadingIfPaused() {
        if readingPaused, !peerClosed {
            readingPaused = false
            updateInterest()
        }
    }

    // MARK: Responding

    func finish(_ response: HTTPResponse, requestID: String, serial: UInt64) {
        guard phase == .handling, serial == requestSerial else { return }
        streamObserver = nil
        write(response.serialized(requestID: requestID, keepAlive: keepAlive, includeBody: !answeringHead))
        completeResponse()
    }

    /// Registers the responder of the request being handled to hear of a close before its stream starts.
    func watch(_ observer: HTTPResponder, serial: UInt64) {
        guard phase == .handling, serial == requestSerial else { return }
        streamObserver = observer
    }

    func startStream(_ head: HTTPResponseHead, requestID: String, serial: UInt64, observer: HTTPResponder) {
        guard phase == .handling, serial == requestSerial else { return }
        phase = .streaming
        streamObserver = observer
        write(head.serialized(requestID: requestID, keepAlive: keepAlive))
    }

    func sendChunk(_ bytes: [UInt8], serial: UInt64) {
        guard phase == .streaming, serial == requestSerial, !bytes.isEmpty else { return }
        startWriting()
        HTTPResponseHead.appendChunk(bytes, to: &output)
        flushWhenTurnEnds()
    }

    func endStream(serial: UInt64, closingConnection: Bool) {
        guard phase == .streaming, serial == requestSerial else { return }
        if closingConnection { keepAlive = false }
        write(HTTPResponseHead.lastChunk)
        streamObserver = nil
        completeResponse()
    }

    /// Answers a request that cannot be handled (parse failure, timeout) and closes after sending.
    /// Nothing more is read: bytes the client still sends (a body never consumed) are left unread.
    func failAndClose(_ response: HTTPResponse) {
        guard phase == .awaitingRequest || phase == .handling else { return }
        keepAlive = false
        readingPaused = true
        write(response.serialized(requestID: host.nextRequestID(), keepAlive: false))
        guard phase != .closed else { return }  // the send failed and closed the connection
        phase = .awaitingRequest
        closeAfterFlush = true
        if pendingOutputBytes == 0 { return close() }
        updateInterest()
    }

    private func completeResponse() {
        guard phase != .closed else { return }
        phase = .awaitingRequest
        if !keepAlive {
            closeAfterFlush = true
            if pendingOutputBytes == 0 { close() }
            return
        }
        processBuffered()
        if phase == .awaitingRequest, host.draining, isIdle { close() }
    }

    // MARK: Writing

    /// Queues bytes; they are sent at the end of the loop's turn, or when the socket can take them.
    private func write(_ bytes: [UInt8]) {
        guard phase != .closed, !bytes.isEmpty else { return }
        if pendingOutputBytes == 0 {
            output = bytes
            outputOffset = 0
            lastWriteProgressMillis = host.nowMillis  // the wait for the socket starts now
        } else {
            output.append(contentsOf: bytes)
        }
        flushWhenTurnEnds()
    }

    /// Before appending to `output` in place: drops what was sent (keeping the buffer).
    private func startWriting() {
        guard pendingOutputBytes == 0 else { return }
        output.removeAll(keepingCapacity: true)
        outputOffset = 0
        lastWriteProgressMillis = host.nowMillis
    }

    private func flushWhenTurnEnds() {
        guard phase != .closed, !writeInterest, !flushAtTurnEnd else { return }
        flushAtTurnEnd = true
        host.loop.callAtTurnEnd(self)
    }

    func turnEnded() {
        flushAtTurnEnd = false
        guard phase != .closed, !writeInterest, pendingOutputBytes > 0 else { return }
        flush()
        guard phase != .closed else { return }
        if pendingOutputBytes > 0 {
            writeInterest = true  // the socket is full: the rest goes when it can take more
            updateInterest()
        } else if phase == .awaitingRequest, host.draining, isIdle {
            close()
        }
    }

    private func flush() {
        while pendingOutputBytes > 0 {
            let sent = output.withUnsafeBytes {
                send(fd, $0.baseAddress! + outputOffset, $0.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                outputOffset += sent
                lastWriteProgressMillis = host.nowMillis
            } else if sent < 0, errno == EINTR {
                continue
            } else if sent < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else {
                close()
                return
            }
        }
        // A stream keeps a small buffer for its next events; otherwise nothing is held while idle.
        output.removeAll(keepingCapacity: phase == .streaming && output.capacity <= Self.streamBufferKeptBytesMax)
        outputOffset = 0
        if writeInterest {
            writeInterest = false
            updateInterest()
        }
        if closeAfterFlush { return close() }
        streamObserver?.onDrain?()
    }

    private func updateInterest() {
        guard phase != .closed else { return }
        var events: UInt32 = readingPaused ? 0 : Self.readEvents
        if writeInterest { events |= AEX_EPOLLOUT }
        host.loop.modify(fd: fd, events: events)
    }

    // MARK: Deadlines and closing

    /// Called on every loop tick.
    func checkDeadlines(nowMillis: Int64) {
        if phase == .awaitingRequest, !closeAfterFlush, let deadline = requestDeadlineMillis, nowMillis >= deadline {
            failAndClose(HTTPResponse.error(408, code: "request_timeout", message: "the request was not received in time"))
            return
        }
        if phase == .awaitingRequest, !closeAfterFlush, let deadline = bodyDeadlineMillis, nowMillis >= deadline {
            failAndClose(HTTPResponse.error(
                408, code: "request_timeout",
                message: "the request body was not received within \(host.limits.bodyReadTimeoutSeconds) s"))
            return
        }
        let idleMillis = Int64(host.limits.idleKeepAliveSeconds) * 1_000
        if isIdle, nowMillis - lastActivityMillis >= idleMillis {
            close()
        } else if pendingOutputBytes > 0, nowMillis - lastWriteProgressMillis >= idleMillis {
            close()
        }
    }

    func close() {
        guard phase != .closed else { return }
        phase = .closed
        host.loop.deregister(fd: fd)
        Glibc.close(fd)
        output = []
        host.connectionClosed(self)
        if let observer = streamObserver {
            streamObserver = nil
            observer.onClose?()
        }
    }
}
