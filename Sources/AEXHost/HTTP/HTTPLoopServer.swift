import CLinux
import Glibc
import Synchronization

/// The HTTP server's part on one event loop: its listener (SO_REUSEPORT), its connections, its
/// request ids and its read buffer. Loop-confined: other threads reach it only through `loop.execute`.
final class HTTPLoopServer: EventSource, @unchecked Sendable {
    static let readBufferBytes = 64 * 1024

    let loop: EventLoop
    let handler: any HTTPHandler
    let limits: HTTPServerLimits
    let readBuffer: UnsafeMutableRawBufferPointer
    private let shared: HTTPServerShared
    private var listenFD: Int32
    private var connections: [Int32: HTTPConnection] = [:]
    private let requestIDPrefix: String
    private var requestCounter: UInt64 = 0
    private(set) var draining = false
    private var acceptPaused = false
    private var drainDeadlineMillis: Int64 = 0
    private(set) var nowMillis: Int64 = WallClock.monotonicMillis()

    init(loop: EventLoop, listenFD: Int32, handler: any HTTPHandler, limits: HTTPServerLimits, shared: HTTPServerShared) {
        self.loop = loop
        self.listenFD = listenFD
        self.handler = handler
        self.limits = limits
        self.shared = shared
        readBuffer = .allocate(byteCount: Self.readBufferBytes, alignment: 16)
        requestIDPrefix = "req_" + Hex.encode(SecureRandom.bytes(4)) + String(loop.index, radix: 16) + "_"
    }

    deinit { readBuffer.deallocate() }

    /// Registers the listener and the tick. Loop thread only.
    func activate() throws {
        loop.onTick = { [unowned self] in tick() }
        try loop.register(self, fd: listenFD, events: AEX_EPOLLIN)
    }

    func nextRequestID() -> String {
        requestCounter &+= 1
        return requestIDPrefix + String(requestCounter, radix: 16)
    }

    // Accepting: the listener is this object's descriptor.
    func handle(events: UInt32) {
        nowMillis = WallClock.monotonicMillis()
        while !draining {
            let fd = aex_accept(listenFD)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE {
                    // Out of descriptors: stop listening until the next tick instead of spinning.
                    loop.modify(fd: listenFD, events: 0)
                    acceptPaused = true
                }
                return
            }
            guard shared.openConnections.add(1, ordering: .relaxed).newValue <= limits.connectionsMax else {
                refuseOverloaded(fd)
                continue
            }
            _ = aex_set_nodelay(fd)
            let connection = HTTPConnection(fd: fd, host: self, nowMillis: nowMillis)
            do {
                try loop.register(connection, fd: fd, events: HTTPConnection.readEvents)
                connections[fd] = connection
            } catch {
                Glibc.close(fd)
                shared.openConnections.subtract(1, ordering: .relaxed)
            }
        }
    }

    private func refuseOverloaded(_ fd: Int32) {
        let response = HTTPResponse.error(503, code: "overloaded", message: "too many connections; retry shortly")
        let bytes = response.serialized(requestID: nextRequestID(), keepAlive: false)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        Glibc.close(fd)
        shared.openConnections.subtract(1, ordering: .relaxed)
    }

    func connectionClosed(_ connection: HTTPConnection) {
        connections[connection.fd] = nil
        shared.openConnections.subtract(1, ordering: .relaxed)
        if draining, connections.isEmpty { loop.stopRunning() }
    }

    private func tick() {
        nowMillis = WallClock.monotonicMillis()
        if acceptPaused, !draining {
            acceptPaused = false
            loop.modify(fd: listenFD, events: AEX_EPOLLIN)
        }
        for connection in Array(connections.values) { connection.checkDeadlines(nowMillis: nowMillis) }
        if draining, nowMillis >= drainDeadlineMillis {
            for connection in Array(connections.values) { connection.close() }
            loop.stopRunning()
        }
    }

    /// Stops accepting, closes idle connections and lets the others finish their current request.
    func beginDraining() {
        guard !draining else { return }
        draining = true
        nowMillis = WallClock.monotonicMillis()
        drainDeadlineMillis = nowMillis + Int64(limits.drainTimeoutSeconds) * 1_000
        loop.deregister(fd: listenFD)
        Glibc.close(listenFD)
        listenFD = -1
        for connection in Array(connections.values) where connection.isIdle { connection.close() }
        if connections.isEmpty { loop.stopRunning() }
    }
}

/// State the loops of one server share.
final class HTTPServerShared: Sendable {
    let openConnections = Atomic<Int>(0)
}
