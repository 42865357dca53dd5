import CLinux
import Glibc

/// Provider calls to plain-HTTP providers at a numeric address (`PlainHTTPTarget`: local inference
/// servers, mocks), made by the event loop itself: one `send` of the request and one `recv` per
/// readiness event, with keep-alive connections kept per address and port. What libcurl costs per
/// call on top (its connection checks, option handling, header matching) is not paid here; `Egress`
/// sends everything else through libcurl. Same contract as `Egress`'s transfers: exactly one
/// completion, connect/total/idle timeouts, a size limit for buffered answers, pause and resume of
/// a stream, cancel. Loop-confined.
final class PlainHTTPClient: @unchecked Sendable {
    /// Idle keep-alive connections kept across all providers of this loop.
    static let idleConnectionsMax = 256
    /// Bytes taken from a socket per readiness event.
    static let receiveBytesMax = 64 * 1024

    private let loop: EventLoop
    private var transfers: [UInt64: Transfer] = [:]
    private var idle: [String: [Connection]] = [:]
    private var idleCount = 0
    private var receiveBuffer = [UInt8](repeating: 0, count: PlainHTTPClient.receiveBytesMax)

    init(loop: EventLoop) {
        self.loop = loop
    }

    var inFlight: Int { transfers.count }

    final class Transfer {
        let serial: UInt64
        let target: PlainHTTPTarget
        let requestBytes: [UInt8]
        let headRequest: Bool
        let responseBytesMax: Int
        let onData: ((UnsafeRawBufferPointer) -> StreamAction)?
        let completion: (UpstreamResult) -> Void
        let connectDeadlineMillis: Int64
        /// Calls: the whole answer by then. Streams: none (`idleTimeoutMilliseconds` instead).
        let totalDeadlineMillis: Int64?
        let idleTimeoutMilliseconds: Int64?
        var lastByteAtMillis: Int64
        var connection: Connection?
        var status = 0
        var contentType: String?
        var body: [UInt8] = []
        /// A stream's chunk the consumer did not take (paused): offered again on `resume`.
        var held: [UInt8]?
        var paused: Bool { held != nil }
        /// The request went out once on a reused connection that closed without answering: the
        /// one retry, on a new connection, has been made.
        var retried = false
        /// Inside the consumer's callback: a cancel waits until it returns.
        var delivering = false
        var cancelRequested = false

        init(serial: UInt64, target: PlainHTTPTarget, request: UpstreamRequest, requestBytes: [UInt8],
             onData: ((UnsafeRawBufferPointer) -> StreamAction)?, completion: @escaping (UpstreamResult) -> Void) {
            self.serial = serial
            self.target = target
            self.requestBytes = requestBytes
            headRequest = request.method == "HEAD"
            responseBytesMax = request.responseBytesMax
            self.onData = onData
            self.completion = completion
            let now = WallClock.monotonicMillis()
            lastByteAtMillis = now
            connectDeadlineMillis = now + Int64(request.connectTimeoutMilliseconds)
            if let idle = request.idleTimeoutSeconds {
                idleTimeoutMilliseconds = Int64(idle) * 1_000
                totalDeadlineMillis = nil
            } else {
                idleTimeoutMilliseconds = nil
                totalDeadlineMillis = now + Int64(request.totalTimeoutMilliseconds)
            }
        }

        /// The answer's 2xx body goes to the consumer chunk by chunk.
        var streaming: Bool { onData != nil && (200..<300).contains(status) }
    }

    /// One keep-alive connection to a provider, registered in the loop while it is open (except
    /// while its stream is paused).
    final class Connection: EventSource {
        unowned let client: PlainHTTPClient
        let fd: Int32
        let endpoint: String
        /// The address connected to (the target's, or its alternate).
        let address: String
        var connecting: Bool
        var registered = false
        var events: UInt32 = 0
        var transfer: Transfer?
        var parser = UpstreamResponseParser()
        var outbound: [UInt8] = []
        var sentBytes = 0
        /// Carried an earlier answer: it may have been closed by the provider while idle.
        var reused = false
        var closed = false

        init(client: PlainHTTPClient, fd: Int32, endpoint: String, address: String, connecting: Bool) {
            self.client = client
            self.fd = fd
            self.endpoint = endpoint
            self.address = address
            self.connecting = connecting
        }

        func handle(events: UInt32) { client.event(on: self, events: events) }
    }

    // MARK: starting

    private var nextSerial: UInt64 = 0

    /// Starts a transfer; returns its serial for `resume` and `cancel`. `completion` runs on the
    /// loop exactly once, never from inside this call.
    func start(_ request: UpstreamRequest, target: PlainHTTPTarget, onData: ((UnsafeRawBufferPointer) -> StreamAction)?,
               completion: @escaping (UpstreamResult) -> Void) -> UInt64 {
        nextSerial &+= 1
        let serial = nextSerial
        let bytes = Self.requestBytes(request, target: target)
        let transfer = Transfer(serial: serial, target: target, request: request, requestBytes: bytes ?? [],
                                onData: onData, completion: completion)
        transfers[serial] = transfer
        guard bytes != nil else {
            failLater(serial, .unavailable("the request has a header that cannot be sent"))
            return serial
        }
        startingSerial = serial
        defer { startingSerial = nil }
        if let failure = dispatch(transfer, reuse: true) { failLater(serial, failure) }
        return serial
    }

    /// The transfer `start` is dispatching: an end found meanwhile (a send failing at once) waits
    /// for the loop's next turn, so the caller holds the transfer's serial before its completion.
    private var startingSerial: UInt64?

    /// Ends a transfer with `result` at the loop's next turn (a start does not complete inside itself).
    private func failLater(_ serial: UInt64, _ result: UpstreamResult) {
        loop.execute { [self] in
            guard let transfer = transfers[serial] else { return }
            finish(transfer, result)
        }
    }

    /// Sends the transfer's request on an idle connection to its provider, or on a new one. A
    /// failure to even start a connection is returned.
    private func dispatch(_ transfer: Transfer, reuse: Bool) -> UpstreamResult? {
        let endpoint = transfer.target.endpoint
        if reuse, var pool = idle[endpoint], let connection = pool.popLast() {
            idle[endpoint] = pool.isEmpty ? nil : pool
            idleCount -= 1
            connection.reused = true
            attach(transfer, to: connection)
            send(connection)
            return nil
        }
        return connect(transfer, to: transfer.target.address)
    }

    /// Opens a new connection for the transfer to `address`; for `localhost`, a refusal on the
    /// IPv4 loopback tries the IPv6 one.
    private func connect(_ transfer: Transfer, to address: String) -> UpstreamResult? {
        var inProgress: Int32 = 0
        let fd = aex_connect_start(address, transfer.target.port, &inProgress)
        guard fd >= 0 else {
            let error = errno
            if error == ECONNREFUSED, let next = transfer.target.alternateAddress, next != address {
                return connect(transfer, to: next)
            }
            return .unavailable("connect: \(String(cString: strerror(error)))")
        }
        let connection = Connection(client: self, fd: fd, endpoint: transfer.target.endpoint, address: address,
                                    connecting: inProgress != 0)
        attach(transfer, to: connection)
        guard watch(connection, events: AEX_EPOLLOUT) else {
            drop(connection)
            return .unavailable("cannot watch the provider connection")
        }
        if !connection.connecting { send(connection) }
        return nil
    }

    private func attach(_ transfer: Transfer, to connection: Connection) {
        transfer.connection = connection
        connection.transfer = transfer
        connection.parser = UpstreamResponseParser(headRequest: transfer.headRequest)
        connection.outbound = transfer.requestBytes
        connection.sentBytes = 0
    }

    /// The request as it goes on the wire; nil when a header would break the framing.
    static func requestBytes(_ request: UpstreamRequest, target: PlainHTTPTarget) -> [UInt8]? {
        guard !request.method.isEmpty, request.method.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(256 + request.body.count + request.headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 })
        out.append(contentsOf: request.method.utf8)
        out.append(0x20)
        out.append(contentsOf: target.pathAndQuery.utf8)
        out.append(contentsOf: " HTTP/1.1\r\nHost: ".utf8)
        out.append(contentsOf: target.hostHeader.utf8)
        out.append(contentsOf: "\r\n".utf8)
        for (name, value) in request.headers {
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x3A }),
                  !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else { return nil }
            if isClientOwned(name) { continue }
            out.append(contentsOf: name.utf8)
            out.append(0x3A)
            out.append(0x20)
            out.append(contentsOf: value.utf8)
            out.append(0x0D)
            out.append(0x0A)
        }
        if request.method == "POST" || !request.body.isEmpty {
            out.append(contentsOf: "Content-Length: ".utf8)
            out.append(contentsOf: String(request.body.count).utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(0x0D)
        out.append(0x0A)
        out.append(contentsOf: request.body)
        return out
    }

    /// Headers the client writes itself (framing and connection), whatever the plugin asked.
    static func isClientOwned(_ name: String) -> Bool {
        let count = name.utf8.count
        guard count == 4 || count == 10 || count == 14 || count == 17 else { return false }
        let folded = String(decoding: name.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        return folded == "host" || folded == "connection" || folded == "content-length" || folded == "transfer-encoding"
    }

    // MARK: resume and cancel

    /// Offers a paused stream's held chunk again, then goes on reading.
    func resume(_ serial: UInt64) {
        guard let transfer = transfers[serial], let held = transfer.held, let connection = transfer.connection else { return }
        transfer.held = nil
        transfer.lastByteAtMillis = WallClock.monotonicMillis()
        guard held.withUnsafeBytes({ deliver($0, of: transfer) }) else { return }
        guard transfers[serial] != nil, !transfer.paused else { return }
        guard watch(connection, events: AEX_EPOLLIN) else {
            drop(connection)
            return finish(transfer, .unavailable("cannot watch the provider connection"))
        }
        readAnswer(on: connection)
    }

    /// Aborts a transfer: its connection is closed and its completion called with `.cancelled`
    /// (after the consumer's callback returns, when called from inside it).
    func cancel(_ serial: UInt64) {
        guard let transfer = transfers[serial] else { return }
        if transfer.delivering {
            transfer.cancelRequested = true
            return
        }
        if let connection = transfer.connection { drop(connection) }
        finish(transfer, .cancelled)
    }

    /// Ends transfers past their deadlines: connect, total, or a stream's silence (not while paused).
    func endOverdue(now: Int64) {
        let overdue = transfers.values.filter { transfer in
            if transfer.connection?.connecting == true, now > transfer.connectDeadlineMillis { return true }
            if let deadline = transfer.totalDeadlineMillis, now > deadline { return true }
            if let idle = transfer.idleTimeoutMilliseconds, !transfer.paused, now - transfer.lastByteAtMillis > idle { return true }
            return false
        }
        for transfer in overdue {
            if let connection = transfer.connection { drop(connection) }
            finish(transfer, .timedOut)
        }
    }

    // MARK: readiness

    fileprivate func event(on connection: Connection, events: UInt32) {
        guard let transfer = connection.transfer else {
            // Idle and readable: the provider closed it (or sent something unasked). Not reusable.
            removeIdle(connection)
            drop(connection)
            return
        }
        if connection.connecting {
            let error = aex_socket_error(connection.fd)
            guard error == 0 else {
                drop(connection)
                if error == ECONNREFUSED, let next = transfer.target.alternateAddress, next != connection.address {
                    if let failure = self.connect(transfer, to: next) { finish(transfer, failure) }
                    return
                }
                return finish(transfer, .unavailable("connect: \(String(cString: strerror(error)))"))
            }
            connection.connecting = false
            send(connection)
            return
        }
        if events & AEX_EPOLLOUT != 0, connection.sentBytes < connection.outbound.count {
            send(connection)
            if connection.sentBytes < connection.outbound.count { return }
        }
        if events & (AEX_EPOLLIN | AEX_EPOLLERR | AEX_EPOLLHUP) != 0 { receive(on: connection, transfer) }
    }

    private func send(_ connection: Connection) {
        guard let transfer = connection.transfer else { return }
        while connection.sentBytes < connection.outbound.count {
            let sent = connection.outbound.withUnsafeBytes { bytes in
                Glibc.send(connection.fd, bytes.baseAddress! + connection.sentBytes, bytes.count - connection.sentBytes, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                connection.sentBytes += sent
                continue
            }
            if sent < 0, errno == EINTR { continue }
            if sent < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                if !watch(connection, events: AEX_EPOLLIN | AEX_EPOLLOUT) {
                    drop(connection)
                    finish(transfer, .unavailable("cannot watch the provider connection"))
                }
                return
            }
            return connectionBroke(connection, transfer, detail: "send: \(String(cString: strerror(errno)))")
        }
        connection.outbound = []
        if !watch(connection, events: AEX_EPOLLIN) {
            drop(connection)
            finish(transfer, .unavailable("cannot watch the provider connection"))
        }
    }

    private func receive(on connection: Connection, _ transfer: Transfer) {
        let received = receiveBuffer.withUnsafeMutableBytes { buffer in
            recv(connection.fd, buffer.baseAddress, buffer.count, 0)
        }
        if received < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
            return connectionBroke(connection, transfer, detail: "recv: \(String(cString: strerror(errno)))")
        }
        if received == 0 {
            return connectionBroke(connection, transfer, detail: nil)
        }
        transfer.lastByteAtMillis = WallClock.monotonicMillis()
        receiveBuffer.withUnsafeBytes { connection.parser.append(UnsafeRawBufferPointer(rebasing: $0[0..<received])) }
        readAnswer(on: connection)
    }

    /// The connection closed or failed (`detail` nil: an orderly close). A reused connection that
    /// closes before any byte of the answer never took the request: it is sent once more on a new
    /// connection. Otherwise the answer ends here if the close delimits it, or the call fails.
    private func connectionBroke(_ connection: Connection, _ transfer: Transfer, detail: String?) {
        drop(connection)
        if connection.reused, !connection.parser.receivedAny, !transfer.retried {
            transfer.retried = true
            if let failure = dispatch(transfer, reuse: false) { finish(transfer, failure) }
            return
        }
        if detail == nil {
            do {
                if case .end = try connection.parser.closed() { return finish(transfer, completed(transfer)) }
            } catch {
                return finish(transfer, .unavailable(error.detail))
            }
        }
        finish(transfer, .unavailable(detail ?? "the provider closed the connection"))
    }

    /// Takes every element the received bytes make up.
    private func readAnswer(on connection: Connection) {
        while let transfer = connection.transfer, transfers[transfer.serial] != nil, !transfer.paused {
            let element: UpstreamResponseParser.Element
            do {
                element = try connection.parser.next()
            } catch {
                drop(connection)
                return finish(transfer, .unavailable(error.detail))
            }
            switch element {
            case .needMore:
                return
            case .head(let status, let contentType):
                transfer.status = status
                transfer.contentType = contentType
            case .body(let range):
                if transfer.streaming {
                    let delivered = connection.parser.buffer.withUnsafeBytes { bytes in
                        deliver(UnsafeRawBufferPointer(rebasing: bytes[range]), of: transfer)
                    }
                    guard delivered else { return }
                    if transfer.paused {
                        if connection.registered {
                            loop.deregister(fd: connection.fd)
                            connection.registered = false
                        }
                        return
                    }
                } else {
                    guard transfer.body.count + range.count <= transfer.responseBytesMax else {
                        drop(connection)
                        return finish(transfer, .tooLarge)
                    }
                    transfer.body.append(contentsOf: connection.parser.buffer[range])
                }
            case .end(let keepAlive):
                connection.transfer = nil
                transfer.connection = nil
                if keepAlive, connection.outbound.isEmpty, connection.parser.isDrained { park(connection) } else { drop(connection) }
                return finish(transfer, completed(transfer))
            }
        }
    }

    /// Hands a stream's chunk to its consumer; false when the transfer ended meanwhile (cancelled
    /// from inside the callback). A chunk not taken is kept (`held`) for `resume`.
    private func deliver(_ chunk: UnsafeRawBufferPointer, of transfer: Transfer) -> Bool {
        guard let onData = transfer.onData else { return true }
        transfer.delivering = true
        let action = onData(chunk)
        transfer.delivering = false
        if transfer.cancelRequested {
            if let connection = transfer.connection { drop(connection) }
            finish(transfer, .cancelled)
            return false
        }
        if case .pause = action { transfer.held = Array(chunk) }
        return true
    }

    private func completed(_ transfer: Transfer) -> UpstreamResult {
        .response(status: transfer.status, contentType: transfer.contentType, body: transfer.body)
    }

    private func finish(_ transfer: Transfer, _ result: UpstreamResult) {
        if startingSerial == transfer.serial { return failLater(transfer.serial, result) }
        guard transfers.removeValue(forKey: transfer.serial) != nil else { return }
        if let connection = transfer.connection, connection.transfer === transfer { connection.transfer = nil }
        transfer.connection = nil
        transfer.completion(result)
    }

    // MARK: connections

    /// Watches `events` on the connection, registering it if needed; false when epoll refuses.
    private func watch(_ connection: Connection, events: UInt32) -> Bool {
        if connection.registered {
            if connection.events == events { return true }
            guard loop.modify(fd: connection.fd, events: events) else { return false }
        } else {
            do { try loop.register(connection, fd: connection.fd, events: events) } catch { return false }
            connection.registered = true
        }
        connection.events = events
        return true
    }

    /// Keeps a connection whose answer is complete for the next request to its provider.
    private func park(_ connection: Connection) {
        guard idleCount < Self.idleConnectionsMax, connection.registered, connection.events == AEX_EPOLLIN else {
            return drop(connection)
        }
        idle[connection.endpoint, default: []].append(connection)
        idleCount += 1
    }

    private func removeIdle(_ connection: Connection) {
        guard var pool = idle[connection.endpoint], let index = pool.firstIndex(where: { $0 === connection }) else { return }
        pool.remove(at: index)
        idle[connection.endpoint] = pool.isEmpty ? nil : pool
        idleCount -= 1
    }

    /// Closes a connection: out of the epoll set first, so its descriptor number is never stale.
    private func drop(_ connection: Connection) {
        guard !connection.closed else { return }
        if connection.registered {
            loop.deregister(fd: connection.fd)
            connection.registered = false
        }
        if connection.transfer?.connection === connection { connection.transfer?.connection = nil }
        connection.transfer = nil
        close(connection.fd)
        connection.closed = true
    }
}
