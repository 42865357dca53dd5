import CLinux
import Glibc
import Synchronization

/// The HTTP server's part on one event loop: its registration of the shared listener, its
/// connections, its request ids and its read buffer. Loop-confined: other threads reach it only
/// through `loop.execute`.
///
/// Balance: the loop that accepts a connection keeps it unless another loop holds at least
/// `handOffMarginConnections` fewer connections; it then hands the descriptor to the least loaded loop (one
/// task on that loop per connection, never per request). So a burst of keep-alive connections
/// accepted by one idle loop is still spread over every loop.
final class HTTPLoopServer: EventSource, @unchecked Sendable {
    static let readBufferBytes = 64 * 1024
    /// Most connections accepted per wake-up: the loop then serves its connections before taking
    /// more, and connections arriving meanwhile wake another, idle loop.
    static let acceptsPerWakeMax = 8
    /// How many fewer connections another loop must hold to be handed a new one.
    static let handOffMarginConnections = 2

    let loop: EventLoop
    let handler: any HTTPHandler
    let limits: HTTPServerLimits
    let readBuffer: UnsafeMutableRawBufferPointer
    private let shared: HTTPServerShared
    /// The listener shared by every loop of the server; closed by the last loop to stop listening.
    private let listenFD: Int32
    /// Whether `listenFD` is in this loop's epoll set.
    private var listening = false
    private var connections: [Int32: HTTPConnection] = [:]
    private let requestIDPrefix: String
    private var requestCounter: UInt64 = 0
    private(set) var draining = false
    private var acceptPaused = false
    private var drainDeadlineMillis: Int64 = 0
    private(set) var nowMillis: Int64 = WallClock.monotonicMillis()

    init(loop: EventLoop, handler: any HTTPHandler, limits: HTTPServerLimits, shared: HTTPServerShared) {
        self.loop = loop
        listenFD = shared.listenFD
        self.handler = handler
        self.limits = limits
        self.shared = shared
        readBuffer = .allocate(byteCount: Self.readBufferBytes, alignment: 16)
        // Unique per loop and start, not secret: the system generator, not libcrypto (`Auth/`).
        requestIDPrefix = "req_" + withUnsafeBytes(of: UInt32.random(in: .min ... .max)) { Hex.encode($0) }
            + String(loop.index, radix: 16) + "_"
    }

    deinit { readBuffer.deallocate() }

    /// Registers the listener and the tick. Loop thread only.
    func activate() throws {
        loop.onTick = { [unowned self] in tick() }
        guard !draining else { return }
        try startListening()
    }

    /// Adds the shared listener to this loop's epoll set, exclusively: a new connection wakes one
    /// waiting loop rather than all of them (kernels without EPOLLEXCLUSIVE get a plain registration).
    private func startListening() throws {
        do {
            try loop.register(self, fd: listenFD, events: AEX_EPOLLIN | AEX_EPOLLEXCLUSIVE)
        } catch {
            try loop.register(self, fd: listenFD, events: AEX_EPOLLIN)
        }
        listening = true
    }

    private func stopListening() {
        guard listening else { return }
        loop.deregister(fd: listenFD)
        listening = false
    }

    func nextRequestID() -> String {
        requestCounter &+= 1
        return requestIDPrefix + String(requestCounter, radix: 16)
    }

    // Accepting: the listener is this object's descriptor. Another loop may have taken the
    // connection that woke this one: accept then fails with EAGAIN.
    func handle(events: UInt32) {
        nowMillis = WallClock.monotonicMillis()
        var accepted = 0
        while listening, !draining, accepted < Self.acceptsPerWakeMax {
            let fd = aex_accept(listenFD)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE {
                    // Out of descriptors: stop listening until the next tick instead of spinning
                    // (an exclusive registration cannot be modified, only removed and added again).
                    stopListening()
                    acceptPaused = true
                }
                return
            }
            accepted += 1
            guard shared.openConnections.add(1, ordering: .relaxed).newValue <= limits.connectionsMax else {
                refuseOverloaded(fd)
                continue
            }
            if let peer = shared.handOffTarget(from: loop.index) {
                peer.loop.execute { [peer] in peer.adopt(fd) }
            } else {
                shared.loopConnections[loop.index].value.add(1, ordering: .relaxed)
                adopt(fd)
            }
        }
    }

    /// Serves an accepted connection on this loop; it is already counted in the open connections
    /// and in this loop's. Loop thread only.
    private func adopt(_ fd: Int32) {
        nowMillis = WallClock.monotonicMillis()
        if draining {  // handed over while this loop began to stop
            Glibc.close(fd)
            uncount()
            return
        }
        _ = aex_set_nodelay(fd)
        let connection = HTTPConnection(fd: fd, host: self, nowMillis: nowMillis)
        do {
            try loop.register(connection, fd: fd, events: HTTPConnection.readEvents)
            connections[fd] = connection
        } catch {
            Glibc.close(fd)
            uncount()
        }
    }

    private func uncount() {
        shared.openConnections.subtract(1, ordering: .relaxed)
        shared.loopConnections[loop.index].value.subtract(1, ordering: .relaxed)
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
        uncount()
        if draining, connections.isEmpty { loop.stopRunning() }
    }

    private func tick() {
        nowMillis = WallClock.monotonicMillis()
        if acceptPaused, !draining {
            acceptPaused = false
            do { try startListening() } catch { acceptPaused = true }
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
        stopListening()
        acceptPaused = false
        shared.loopStoppedListening()
        for connection in Array(connections.values) where connection.isIdle { connection.close() }
        if connections.isEmpty { loop.stopRunning() }
    }
}

/// State the loops of one server share: the listening socket, the count of open connections (all
/// loops, and per loop) and the loops themselves, for hand-offs.
final class HTTPServerShared: Sendable {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    let listenFD: Int32
    let openConnections = Atomic<Int>(0)
    /// Connections each loop serves or has been handed, by loop index.
    let loopConnections: [Counter]
    /// Set before the loops start; emptied once they have finished (it would keep them alive).
    private let servers = Mutex<[HTTPLoopServer]>([])
    /// No hand-offs once the server stops: the loops drain.
    private let stopping = Atomic<Bool>(false)
    /// Loops that have not stopped listening yet; the last one closes the listener.
    private let listeningLoops: Atomic<Int>
    private let listenerClosed = Atomic<Bool>(false)

    init(listenFD: Int32, loopCount: Int) {
        self.listenFD = listenFD
        loopConnections = (0..<loopCount).map { _ in Counter() }
        listeningLoops = Atomic(loopCount)
    }

    func attach(_ loopServers: [HTTPLoopServer]) { servers.withLock { $0 = loopServers } }

    func beginStopping() { stopping.store(true, ordering: .releasing) }

    func detach() { servers.withLock { $0 = [] } }

    /// The loop a connection accepted by loop `index` should go to instead, counted there; nil when
    /// `index` keeps it (no loop holds `handOffMarginConnections` fewer connections, or the server stops).
    func handOffTarget(from index: Int) -> HTTPLoopServer? {
        guard loopConnections.count > 1 else { return nil }
        let own = loopConnections[index].value.load(ordering: .relaxed)
        var best = index
        var bestCount = own
        for (other, counter) in loopConnections.enumerated() where other != index {
            let count = counter.value.load(ordering: .relaxed)
            if count < bestCount {
                best = other
                bestCount = count
            }
        }
        guard own - bestCount >= HTTPLoopServer.handOffMarginConnections, !stopping.load(ordering: .acquiring) else { return nil }
        guard let peer = servers.withLock({ best < $0.count ? $0[best] : nil }) else { return nil }
        loopConnections[best].value.add(1, ordering: .relaxed)
        return peer
    }

    deinit { closeListener() }

    /// Called once by each loop after it removed the listener from its epoll set.
    func loopStoppedListening() {
        if listeningLoops.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { closeListener() }
    }

    private func closeListener() {
        guard !listenerClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.close(listenFD)
    }
}
