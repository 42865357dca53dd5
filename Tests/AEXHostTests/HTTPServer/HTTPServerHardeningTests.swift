import CLinux
import Dispatch
import Foundation
import Glibc
import Synchronization
import Testing
@testable import AEXHost

/// The server against clients that try to hold or confuse it: a second server on its port, bodies
/// refused from their head, bodies that never finish, pipelined requests followed by a half-close,
/// and a loop kept busy while connections keep arriving.
@Suite struct HTTPServerHardeningTests {
    /// `/async` answers from another thread, `/block` holds its loop's thread, anything else answers
    /// at once. A head carrying `x-deny` is refused by `screen` while its body is still arriving.
    final class Handler: HTTPHandler {
        let handled = Atomic<Int>(0)

        func handle(_ request: HTTPRequest, responder: HTTPResponder) {
            handled.add(1, ordering: .relaxed)
            switch request.path {
            case "/async":
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(5)) {
                    responder.respond(HTTPResponse(status: 200, body: Array("later \(request.query ?? "")".utf8)))
                }
            case "/block":
                usleep(600_000)  // a loop kept busy (handlers must never do this)
                responder.respond(HTTPResponse(status: 200, body: Array("blocked".utf8)))
            default:
                responder.respond(HTTPResponse(status: 200, body: Array("now \(request.query ?? "")".utf8)))
            }
        }

        func screen(head: HTTPRequest) -> HTTPResponse? {
            head.headers["x-deny"] == nil ? nil : .error(401, code: "invalid_api_key", message: "denied")
        }
    }

    final class Client {
        let fd: Int32
        init(port: Int, receiveTimeoutMilliseconds: Int = 5_000) throws {
            fd = aex_connect_tcp("127.0.0.1", UInt16(port), 2_000)
            guard fd >= 0 else { throw SystemError.last("connecting") }
            var timeout = timeval(tv_sec: receiveTimeoutMilliseconds / 1_000, tv_usec: (receiveTimeoutMilliseconds % 1_000) * 1_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        deinit { close(fd) }

        func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

        /// Everything until the server closes (or the receive timeout); `closed` says which.
        func receiveUntilClosed() -> (text: String, closed: Bool) {
            var received = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    received += buffer[0..<count]
                } else {
                    return (String(decoding: received, as: UTF8.self), count == 0 || errno == ECONNRESET)
                }
            }
        }

        /// Bytes until `marker` has arrived (or the connection ends).
        func receive(until marker: String) -> String {
            var received = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while !String(decoding: received, as: UTF8.self).contains(marker) {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { break }
                received += buffer[0..<count]
            }
            return String(decoding: received, as: UTF8.self)
        }
    }

    func withServer(loops: Int = 2, environment: [String: String] = [:], _ body: (HTTPServer, Handler) throws -> Void) throws {
        let handler = Handler()
        let limits = try Settings.from(environment: environment).httpServerLimits
        let server = try HTTPServer(host: "127.0.0.1", port: 0, loopCount: loops, limits: limits, handler: handler)
        server.start()
        defer {
            server.stop()
            server.waitUntilStopped()
        }
        try body(server, handler)
    }

    static func count(_ text: String, _ needle: String) -> Int { text.components(separatedBy: needle).count - 1 }

    // MARK: One port, one server

    @Test func aSecondServerOnTheSamePortFailsNamingThePort() throws {
        try withServer { server, _ in
            var error: (any Error)?
            do {
                let intruder = try HTTPServer(host: "127.0.0.1", port: server.port, loopCount: 2, limits: Settings().httpServerLimits, handler: Handler())
                intruder.start()
                intruder.stop()
                intruder.waitUntilStopped()
            } catch let caught {
                error = caught
            }
            let description = try #require(error.map { "\($0)" }, "binding a port in use must fail")
            #expect(description.contains("port \(server.port)") && description.contains("already in use"), "\(description)")
            // The first server still answers every connection.
            for _ in 0..<20 {
                let response = try LoopbackHTTPClient.send(host: "127.0.0.1", port: server.port, method: "GET", path: "/now")
                #expect(response.status == 200)
            }
        }
    }

    /// One listening socket shared by the loops: a connection that arrives while one loop is busy is
    /// accepted and served by another at once.
    @Test func anIdleLoopAcceptsWhileAnotherIsBusy() throws {
        try withServer { server, _ in
            let busy = try Client(port: server.port)
            busy.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
            usleep(100_000)
            for i in 0..<6 {
                let started = WallClock.monotonicMillis()
                let response = try LoopbackHTTPClient.send(host: "127.0.0.1", port: server.port, method: "GET", path: "/now?\(i)")
                #expect(response.status == 200)
                #expect(WallClock.monotonicMillis() - started < 250, "connection \(i) waited for the busy loop")
            }
            #expect(busy.receive(until: "blocked").hasSuffix("blocked"))
        }
    }

    /// Keep-alive connections opened one after another (each accepted by whichever loop is idle)
    /// end up spread over the loops. A request id names its loop: `req_` + 8 hex digits + the index.
    @Test func keptOpenConnectionsAreSpreadOverTheLoops() throws {
        try withServer { server, _ in
            var clients: [Client] = []
            var perLoop: [Character: Int] = [:]
            for i in 0..<40 {
                let client = try Client(port: server.port)
                client.send("GET /now?\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
                let response = client.receive(until: "now \(i)")
                let id = try #require(response.split(separator: "\r\n").first { $0.hasPrefix("x-request-id: req_") })
                perLoop[Array(id.dropFirst("x-request-id: req_".count + 8)).first ?? "?", default: 0] += 1
                clients.append(client)
            }
            #expect(perLoop.count == 2 && perLoop.values.allSatisfy { (16...24).contains($0) }, "\(perLoop)")
        }
    }

    // MARK: Counting connections

    /// Clients that reset the connection right after a malformed request: the refusal's send fails
    /// and the connection closes, counted once (a double count let the cap drift upward).
    @Test func connectionsResetDuringARefusalAreCountedOnce() throws {
        try withServer { server, _ in
            for _ in 0..<1_500 {
                let fd = aex_connect_tcp("127.0.0.1", UInt16(server.port), 2_000)
                guard fd >= 0 else { continue }
                _ = Array("BAD\r\n\r\n".utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                var reset = linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
                close(fd)
            }
            let deadline = WallClock.monotonicMillis() + 3_000
            while server.openConnections > 0, WallClock.monotonicMillis() < deadline { usleep(20_000) }
            usleep(100_000)
            #expect(server.openConnections == 0)
        }
    }

    // MARK: Pipelining then half-close

    @Test func pipelinedRequestsThenAHalfCloseAreAllAnsweredInOrder() throws {
        try withServer { server, _ in
            let client = try Client(port: server.port)
            var requests = ""
            for i in 0..<40 { requests += "GET /\(i % 3 == 0 ? "async" : "now")?\(i) HTTP/1.1\r\nHost: x\r\n\r\n" }
            client.send(requests + "GET /now?incomplete HTTP/1.1\r\nHo")
            shutdown(client.fd, Int32(SHUT_WR))
            let (text, closed) = client.receiveUntilClosed()
            #expect(closed, "the connection closes after the last answer")
            #expect(Self.count(text, "HTTP/1.1 200 OK") == 40, "\(text.suffix(300))")
            var position = text.startIndex
            for i in 0..<40 {
                let expected = (i % 3 == 0 ? "later " : "now ") + String(i)
                guard let found = text.range(of: expected + (i == 39 ? "" : "HTTP/1.1"), range: position..<text.endIndex) else {
                    Issue.record("answer \(i) missing or out of order")
                    return
                }
                position = found.lowerBound
            }
            #expect(!text.contains("incomplete"))
        }
    }

    // MARK: Screening the head before the body

    @Test func aHeadRefusedByTheHandlerIsAnsweredBeforeItsBodyAndClosed() throws {
        try withServer { server, handler in
            let refused = try Client(port: server.port)
            let started = WallClock.monotonicMillis()
            refused.send("POST /now HTTP/1.1\r\nHost: x\r\nX-Deny: 1\r\nContent-Length: 100000\r\n\r\nabc")
            let (text, closed) = refused.receiveUntilClosed()
            #expect(text.hasPrefix("HTTP/1.1 401 "), "\(text)")
            #expect(text.lowercased().contains("connection: close"))
            #expect(closed)
            #expect(WallClock.monotonicMillis() - started < 1_000)
            #expect(handler.handled.load(ordering: .relaxed) == 0, "the request itself is never handled")

            // Expect: 100-continue gets the refusal instead of the interim answer.
            let asking = try Client(port: server.port)
            asking.send("POST /now HTTP/1.1\r\nHost: x\r\nX-Deny: 1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
            let answer = asking.receiveUntilClosed()
            #expect(answer.text.hasPrefix("HTTP/1.1 401 ") && answer.closed, "\(answer.text)")

            // An accepted head: the body is read and the request handled.
            let accepted = try Client(port: server.port)
            accepted.send("POST /now?ok HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
            usleep(50_000)
            accepted.send("def")
            #expect(accepted.receive(until: "now ok").hasPrefix("HTTP/1.1 200 OK"))

            // A whole request in one read is not screened: the handler itself checks it.
            let whole = try Client(port: server.port)
            whole.send("POST /now?whole HTTP/1.1\r\nHost: x\r\nX-Deny: 1\r\nContent-Length: 3\r\n\r\nabc")
            #expect(whole.receive(until: "now whole").hasPrefix("HTTP/1.1 200 OK"))
        }
    }

    // MARK: A total deadline for the body

    @Test func aBodyThatTricklesPastTheBodyReadTimeoutGets408() throws {
        try withServer(environment: ["AEX_BODY_READ_TIMEOUT_SECONDS": "1"]) { server, handler in
            let client = try Client(port: server.port)
            client.send("POST /now HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            let started = WallClock.monotonicMillis()
            var readable = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
            // One byte every 200 ms: each pause is far below the per-pause timeout.
            while WallClock.monotonicMillis() - started < 4_000, poll(&readable, 1, 200) == 0 { client.send("a") }
            let elapsed = WallClock.monotonicMillis() - started
            let (text, closed) = client.receiveUntilClosed()
            #expect(text.hasPrefix("HTTP/1.1 408 "), "\(text)")
            #expect(text.contains("request_timeout"))
            #expect(closed)
            #expect(elapsed >= 900 && elapsed < 2_000, "answered after \(elapsed) ms")
            #expect(handler.handled.load(ordering: .relaxed) == 0)
        }
    }

    @Test func theBodyReadTimeoutHasADefaultAndASetting() throws {
        #expect(try Settings.from(environment: [:]).httpServerLimits == Settings().httpServerLimits)
        #expect(Settings.rows.contains { $0.variable == "AEX_BODY_READ_TIMEOUT_SECONDS" })
        #expect(throws: ConfigurationError.self) { try Settings.from(environment: ["AEX_BODY_READ_TIMEOUT_SECONDS": "0"]) }
    }
}
