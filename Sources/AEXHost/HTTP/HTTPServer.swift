import CLinux
import Glibc

/// An HTTP/1.1 server: one event loop per core, each with its own SO_REUSEPORT listener on the same
/// port, so the kernel spreads connections and a request stays on one loop from start to end.
public final class HTTPServer: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let loops: [EventLoop]
    private let loopServers: [HTTPLoopServer]
    private let shared = HTTPServerShared()

    /// Binds every listener (port 0 picks a free port, shared by all loops) without serving yet.
    public init(host: String, port: Int, loopCount: Int, limits: HTTPServerLimits, handler: any HTTPHandler) throws {
        precondition(loopCount >= 1, "at least one event loop")
        var boundPort = port
        var listeners: [Int32] = []
        for _ in 0..<loopCount {
            let fd = aex_listen_tcp(host, UInt16(boundPort), Int32(limits.listenBacklog))
            guard fd >= 0 else {
                let error = SystemError.last("listening on \(host):\(boundPort)")
                listeners.forEach { _ = Glibc.close($0) }
                throw error
            }
            if boundPort == 0 { boundPort = Int(aex_local_port(fd)) }
            listeners.append(fd)
        }
        self.host = host
        self.port = boundPort
        var loops: [EventLoop] = []
        var servers: [HTTPLoopServer] = []
        for (index, fd) in listeners.enumerated() {
            let loop = try EventLoop(index: index)
            loops.append(loop)
            servers.append(HTTPLoopServer(loop: loop, listenFD: fd, handler: handler, limits: limits, shared: shared))
        }
        self.loops = loops
        loopServers = servers
    }

    /// Starts the loop threads; each registers its listener first.
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
        for (index, loop) in loops.enumerated() {
            let server = loopServers[index]
            loop.execute { [server] in server.beginDraining() }
        }
    }

    public func waitUntilStopped() {
        for loop in loops { loop.waitUntilFinished() }
    }

    public var openConnections: Int { shared.openConnections.load(ordering: .relaxed) }
}
