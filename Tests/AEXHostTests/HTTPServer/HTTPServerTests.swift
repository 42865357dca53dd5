import CLinux
import Dispatch
import Foundation
import Glibc
import Testing
@testable import AEXHost

/// The server in-process with a test handler: asynchronous answers from another thread, streamed
/// (chunked) responses, HEAD, and graceful stop with a request in flight.
@Suite struct HTTPServerTests {
    struct TestHandler: HTTPHandler {
        func handle(_ request: HTTPRequest, responder: HTTPResponder) {
            switch request.path {
            case "/async":
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                    responder.respond(HTTPResponse(status: 200, headers: [("content-type", "text/plain")], body: Array("later".utf8)))
                }
            case "/stream":
                responder.startStream(HTTPResponseHead(status: 200, headers: [("content-type", "text/event-stream")]))
                DispatchQueue.global().async {
                    for i in 0..<3 {
                        responder.sendChunk(Array("data: \(i)\n\n".utf8))
                        usleep(10_000)
                    }
                    responder.endStream()
                }
            case "/twice":
                responder.respond(HTTPResponse(status: 200, body: Array("first".utf8)))
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) {
                    responder.respond(HTTPResponse(status: 500, body: Array("stray".utf8)))
                }
            case "/slow":
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(400)) {
                    responder.respond(HTTPResponse(status: 200, body: Array("finished".utf8)))
                }
            default:
                responder.respond(HTTPResponse(status: 200, body: Array("now".utf8)))
            }
        }
    }

    func withServer(_ body: (HTTPServer) throws -> Void) throws {
        let server = try HTTPServer(host: "127.0.0.1", port: 0, loopCount: 2, limits: Settings().httpServerLimits, handler: TestHandler())
        server.start()
        defer {
            server.stop()
            server.waitUntilStopped()
        }
        try body(server)
    }

    func get(_ server: HTTPServer, _ path: String, method: String = "GET") throws -> LoopbackHTTPClient.Response {
        try LoopbackHTTPClient.send(host: "127.0.0.1", port: server.port, method: method, path: path)
    }

    @Test func answersFromAnotherThread() throws {
        try withServer { server in
            let response = try get(server, "/async")
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == "later")
            #expect(response.headers["x-request-id"] != nil)
        }
    }

    @Test func streamsChunksInOrderAndTerminates() throws {
        try withServer { server in
            let response = try get(server, "/stream")
            #expect(response.status == 200)
            #expect(response.headers["transfer-encoding"] == "chunked")
            #expect(response.headers["content-type"] == "text/event-stream")
            let body = String(decoding: response.body, as: UTF8.self)
            #expect(body == "9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n")
        }
    }

    @Test func headAnswersWithoutABody() throws {
        try withServer { server in
            let response = try get(server, "/now", method: "HEAD")
            #expect(response.status == 200)
            #expect(response.headers["content-length"] == "3")
            #expect(response.body.isEmpty)
        }
    }

    @Test func gracefulStopLetsTheInFlightRequestFinish() throws {
        let server = try HTTPServer(host: "127.0.0.1", port: 0, loopCount: 2, limits: Settings().httpServerLimits, handler: TestHandler())
        server.start()
        let answer = DispatchSemaphoreBox<Result<LoopbackHTTPClient.Response, any Error>>()
        Thread.detachNewThread {
            answer.finish(Result { try LoopbackHTTPClient.send(host: "127.0.0.1", port: server.port, method: "GET", path: "/slow") })
        }
        usleep(100_000)
        server.stop()
        server.waitUntilStopped()
        let response = try answer.wait().get()
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "finished")
        #expect(throws: (any Error).self) {
            try LoopbackHTTPClient.send(host: "127.0.0.1", port: server.port, method: "GET", path: "/now", timeoutMilliseconds: 500)
        }
    }

    @Test func aStrayLateAnswerNeverReachesTheNextRequest() throws {
        try withServer { server in
            let fd = aex_connect_tcp("127.0.0.1", UInt16(server.port), 2_000)
            #expect(fd >= 0)
            defer { close(fd) }
            let requests = Array("GET /twice HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            _ = requests.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var received = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4_096)
            while !String(decoding: received, as: UTF8.self).contains("finished") {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { break }
                received += buffer[0..<count]
            }
            let text = String(decoding: received, as: UTF8.self)
            #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            #expect(!text.contains("stray"))
            #expect(text.hasSuffix("first") == false && text.hasSuffix("finished"))
        }
    }

    /// `Expect: 100-continue` (curl sends it for bodies over 1 KB): the server says "100 Continue"
    /// as soon as the head is in, without waiting for the body, then answers the request.
    @Test func answersExpectContinueBeforeTheBody() throws {
        try withServer { server in
            let fd = aex_connect_tcp("127.0.0.1", UInt16(server.port), 2_000)
            #expect(fd >= 0)
            defer { close(fd) }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            func sendText(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
            func receive(until marker: String) -> String {
                var received = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 4_096)
                while !String(decoding: received, as: UTF8.self).contains(marker) {
                    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    guard count > 0 else { break }
                    received += buffer[0..<count]
                }
                return String(decoding: received, as: UTF8.self)
            }
            for _ in 0..<2 {  // once per request on a kept-alive connection
                sendText("POST /now HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
                #expect(receive(until: "\r\n\r\n") == "HTTP/1.1 100 Continue\r\n\r\n", "the interim answer comes before the body is sent")
                sendText("hello")
                let final = receive(until: "now")
                #expect(final.hasPrefix("HTTP/1.1 200 OK") && final.hasSuffix("now"))
            }
            // A body sent along with the head needs no interim answer.
            sendText("POST /now HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello")
            #expect(receive(until: "now").hasPrefix("HTTP/1.1 200 OK"))
        }
    }
}
