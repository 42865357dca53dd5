import Testing
@testable import AEXHost

@Suite struct UpstreamResponseParserTests {
    struct Read: Equatable {
        var status: Int?
        var contentType: String?
        var body: [UInt8] = []
        var keepAlive: Bool?
    }

    /// Feeds `wire` in pieces of `piece` bytes (then closes the connection when `close`), taking
    /// every element.
    func read(_ wire: String, piece: Int = .max, close: Bool = false, headRequest: Bool = false) throws -> Read {
        var parser = UpstreamResponseParser(headRequest: headRequest)
        var result = Read()
        let bytes = Array(wire.utf8)
        var offset = 0
        func drain() throws {
            while true {
                switch try parser.next() {
                case .needMore: return
                case .head(let status, let contentType):
                    result.status = status
                    result.contentType = contentType
                case .body(let range): result.body.append(contentsOf: parser.buffer[range])
                case .end(let keepAlive):
                    result.keepAlive = keepAlive
                    return
                }
            }
        }
        while offset < bytes.count, result.keepAlive == nil {
            let end = min(bytes.count, offset + piece)
            bytes[offset..<end].withUnsafeBytes { parser.append($0) }
            offset = end
            try drain()
        }
        if close, result.keepAlive == nil, case .end(let keepAlive) = try parser.closed() { result.keepAlive = keepAlive }
        return result
    }

    @Test func aContentLengthAnswerInAnyPieces() throws {
        let wire = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}"
        for piece in [1, 2, 3, 7, 64, .max] {
            let read = try read(wire, piece: piece)
            #expect(read == Read(status: 200, contentType: "application/json", body: Array("{\"a\":\"bcd\"}".utf8), keepAlive: true), "piece \(piece)")
        }
    }

    @Test func aChunkedAnswerIsDecodedWithExtensionsAndTrailers() throws {
        let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: 1\r\n\r\n"
        for piece in [1, 3, 5, .max] {
            let read = try read(wire, piece: piece)
            #expect(read.body == Array("hello, world!!!".utf8), "piece \(piece)")
            #expect(read.keepAlive == true)
        }
    }

    @Test func anAnswerWithoutLengthRunsToTheClose() throws {
        let read = try read("HTTP/1.1 200 OK\r\n\r\nstreamed until close", close: true)
        #expect(read.body == Array("streamed until close".utf8))
        #expect(read.keepAlive == false)
    }

    @Test func connectionCloseAndHTTP10AreNotKeptAlive() throws {
        #expect(try read("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keepAlive == false)
        #expect(try read("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keepAlive == false)
        #expect(try read("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keepAlive == true)
    }

    @Test func informationalAnswersAreSkipped() throws {
        let read = try read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}", piece: 4)
        #expect(read.status == 429)
        #expect(read.body == Array("{}".utf8))
    }

    @Test func answersWithoutABody() throws {
        #expect(try read("HTTP/1.1 204 No Content\r\n\r\n") == Read(status: 204, keepAlive: true))
        #expect(try read("HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", headRequest: true) == Read(status: 200, keepAlive: true))
    }

    @Test func bareLineFeedsAreAccepted() throws {
        let read = try read("HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
        #expect(read.body == Array("ok".utf8))
    }

    @Test func malformedAnswersFailWithADetail() {
        let cases = [
            "HTTP/2 200\r\n\r\n",
            "HTTP/1.1 2x0 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
        ]
        for wire in cases {
            #expect(throws: UpstreamResponseParser.Failure.self, "\(wire)") { try read(wire) }
        }
    }

    @Test func aCloseBeforeTheEndFails() {
        #expect(throws: UpstreamResponseParser.Failure.self) { try read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", close: true) }
        #expect(throws: UpstreamResponseParser.Failure.self) { try read("HTTP/1.1 200 OK\r\nContent-Le", close: true) }
        var parser = UpstreamResponseParser()
        #expect(parser.receivedAny == false)
        #expect(throws: UpstreamResponseParser.Failure(detail: "the provider closed the connection without answering")) { try parser.closed() }
    }

    @Test func anEndlessHeadIsRefused() {
        let wire = "HTTP/1.1 200 OK\r\n" + String(repeating: "X-Padding: 0123456789\r\n", count: 4_000)
        #expect(throws: UpstreamResponseParser.Failure(detail: "the answer's head is too long")) { try read(wire, piece: 4096) }
    }

    @Test func bytesAfterTheAnswerLeaveTheParserUndrained() throws {
        var parser = UpstreamResponseParser()
        Array("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxEXTRA".utf8).withUnsafeBytes { parser.append($0) }
        _ = try parser.next()
        _ = try parser.next()
        #expect(try parser.next() == .end(keepAlive: true))
        #expect(parser.isDrained == false, "a connection with unasked bytes must not be reused")
    }
}

@Suite struct PlainHTTPTargetTests {
    @Test func numericAndLocalhostURLsAreTargets() {
        let v4 = PlainHTTPTarget(url: "http://127.0.0.1:8080/v1/chat/completions?x=1")
        #expect(v4?.address == "127.0.0.1")
        #expect(v4?.port == 8080)
        #expect(v4?.hostHeader == "127.0.0.1:8080")
        #expect(v4?.pathAndQuery == "/v1/chat/completions?x=1")
        let local = PlainHTTPTarget(url: "http://localhost/v1")
        #expect(local?.address == "127.0.0.1")
        #expect(local?.port == 80)
        #expect(local?.hostHeader == "localhost")
        #expect(local?.alternateAddress == "::1", "a server on the IPv6 loopback only is still reached")
        #expect(local?.endpoint != PlainHTTPTarget(url: "http://127.0.0.1/v1")?.endpoint)
        #expect(v4?.alternateAddress == nil)
        let v6 = PlainHTTPTarget(url: "http://[::1]:9000")
        #expect(v6?.address == "::1")
        #expect(v6?.pathAndQuery == "/")
        #expect(PlainHTTPTarget(url: "http://10.0.0.2:1234?q")?.pathAndQuery == "/?q")
    }

    @Test func everythingElseGoesThroughLibcurl() {
        for url in ["https://127.0.0.1/v1", "http://api.example.com/v1", "http://user:pw@127.0.0.1/v1",
                    "http://127.0.0.1:0/", "http://127.0.0.1:70000/", "http://1.2.3/", "http://[::1/",
                    "http://127.0.0.1/a b", "http://256.1.1.1/", "ftp://127.0.0.1/", "http://127.0.0.1:/x"] {
            #expect(PlainHTTPTarget(url: url) == nil, "\(url)")
        }
    }

    @Test func requestBytesCarryHostAndLengthAndRefuseLineBreaks() throws {
        let target = try #require(PlainHTTPTarget(url: "http://127.0.0.1:8080/v1/chat"))
        var request = UpstreamRequest(method: "POST", url: "http://127.0.0.1:8080/v1/chat",
                                      headers: [("Content-Type", "application/json"), ("Content-Length", "999"), ("Authorization", "Bearer k")],
                                      body: Array("{}".utf8), connectTimeoutMilliseconds: 1, totalTimeoutMilliseconds: 1, responseBytesMax: 1)
        let wire = try #require(PlainHTTPClient.requestBytes(request, target: target))
        #expect(String(decoding: wire, as: UTF8.self) ==
                "POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\nAuthorization: Bearer k\r\nContent-Length: 2\r\n\r\n{}")
        request.headers = [("X-Evil", "a\r\nInjected: 1")]
        #expect(PlainHTTPClient.requestBytes(request, target: target) == nil)
        request.headers = [("X:Evil", "a")]
        #expect(PlainHTTPClient.requestBytes(request, target: target) == nil)
    }
}
