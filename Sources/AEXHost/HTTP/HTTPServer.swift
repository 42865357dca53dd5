import CLinux
import Glibc

/// An HTTP/1.1 server: one event loop per core sharing one listening socket, so a request stays on
/// one loop from accept to close.
///
/// The socket is bound without SO_REUSEPORT: no other process (another daemon included) can bind
/// the port beside it and take a share of its connections. Every loop watches it with
/// EPOLLEXCLUSIVE, so one connection wakes one waiting loop (a busy loop is passed over); accepts
/// are non-blocking, and a loop that loses the race to another gets EAGAIN. A loop holding more
/// connections than another by a margin hands new ones to the least loaded loop.
public final class HTTPServer: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let loops: [EventLoop]
    private let loopServers: [HTTPLoopServer]
    private let shared: HTTPServerShared

    /// Binds the listener (port 0 picks a free port) without serving yet. A port on which anything
    /// listens already throws `AddressInUseError`.
    public init(host: String, port: Int, loopCount: Int, limits: HTTPServerLimits, handler: any HTTPHandler) throws {
        precondition(loopCount >= 1, "at least one event loop")
        let listenFD = aex_listen_tcp(host, UInt16(port), Int32(HTTPServerLimits.listenBacklogConnections))
        guard listenFD >= 0 else {
            if errno == EADDRINUSE { throw AddressInUseError(host: host, port: port) }
            throw SystemError.last("listening on \(host):\(port)")
        }
        shared = HTTPServerShared(listenFD: listenFD, loopCount: loopCount)
        self.host = host
        self.port = port == 0 ? Int(aex_local_port(listenFD)) : port
        var loops: [EventLoop] = []
        var servers: [HTTPLoopServer] = []
        for index in 0..<loopCount {
            let loop = try EventLoop(index: index)
            loops.append(loop)
            servers.append(HTTPLoopServer(loop: loop, handler: handler, limits: limits, shared: shared))
        }
        self.loops = loops
        loopServers = servers
        shared.attach(servers)
    }

    /// Starts the loop threads; each registers the listener first.
    public func start() {
        for (index, loop) in loops.enumerated() {
            let server = loopServers[index]
            loop.execute { [server] in try? server.activate() }
            loop.start(name: "aex-loop-\(index)")
        }
    }

    /// Graceful stop: stop accepting, close idle connections, let in-flight requests finish (up to
    /// the drain timeout). Returns at once; `waitUntilStopped` waits.
    public func stop() {
        shared.beginStopping()
        for (index, loop) in loops.enumerated() {
            let server = loopServers[index]
            loop.execute { [server] in server.beginDraining() }
        }
    }

    public func waitUntilStopped() {
        for loop in loops { loop.waitUntilFinished() }
        shared.detach()
    }

    public var openConnections: Int { shared.openConnections.load(ordering: .relaxed) }
}

/// The port is taken: something (another AEX daemon, another program) listens on it.
public struct AddressInUseError: Error, CustomStringConvertible, Sendable {
    public let host: String
    public let port: Int

    public var description: String {
        "listening on \(host):\(port) failed: port \(port) on \(host) is already in use by another process"
    }
}
