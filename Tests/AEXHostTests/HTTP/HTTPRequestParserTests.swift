import Testing
@testable import AEXHost

// MARK: - Helpers

/// Everything a parser produced from a byte stream: the requests, then a failure or (when
/// `failure` is nil) a wait for more data.
private struct Outcome: Equatable, CustomStringConvertible {
    var requests: [HTTPRequest] = []
    var failure: HTTPParseError?

    var description: String {
        "\(requests.count) request(s) [\(requests.map { "\($0.method) \($0.target)" }.joined(separator: ", "))], "
            + (failure.map { "failure \($0)" } ?? "needMoreData")
    }
}

/// Feeds `parts` one by one, draining every complete request after each; stops at a failure
/// after checking that the parser stays poisoned. Alternates between the two `append` overloads.
private func parse(_ parts: [[UInt8]], limits: HTTPParserLimits = HTTPParserLimits.standard) -> Outcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = Outcome()
    for (index, part) in parts.enumerated() {
        if index.isMultiple(of: 2) {
            parser.append(part)
        } else {
            part.withUnsafeBytes { parser.append($0) }
        }
        while true {
            switch parser.next() {
            case .needMoreData:
                break
            case .request(let request):
                outcome.requests.append(request)
                continue
            case .failure(let error):
                outcome.failure = error
                #expect(parser.next() == .failure(error), "a failed parser must stay poisoned")
                return outcome
            }
            break
        }
    }
    return outcome
}

private func parse(_ bytes: [UInt8], limits: HTTPParserLimits = HTTPParserLimits.standard) -> Outcome {
    parse([bytes], limits: limits)
}

/// Every way to cut `bytes` in two (including empty halves), then byte by byte.
private func splits(of bytes: [UInt8]) -> [[[UInt8]]] {
    var result = (0...bytes.count).map { [Array(bytes[..<$0]), Array(bytes[$0...])] }
    result.append(bytes.map { [$0] })
    return result
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private func headers(_ pairs: (String, String)...) -> HTTPHeaders {
    var headers = HTTPHeaders()
    for (name, value) in pairs { headers.add(name: name, value: value) }
    return headers
}

private func kind(of error: HTTPParseError) -> String {
    switch error {
    case .malformed: "malformed"
    case .headersTooLarge: "headersTooLarge"
    case .bodyTooLarge: "bodyTooLarge"
    case .smuggling: "smuggling"
    case .unsupportedTransferEncoding: "unsupportedTransferEncoding"
    case .versionNotSupported: "versionNotSupported"
    }
}

// MARK: - Tables

struct HTTPValidCase: Sendable, CustomTestStringConvertible {
    var name: String
    var input: [UInt8]
    var expected: [HTTPRequest]
    var testDescription: String { name }
}

private let postBody = bytes(#"{"model":"local","messages":[{"role":"user","content":"hi"}]}"#)

private let getRequest = bytes(
    "GET /v1/models?limit=10&order=asc HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: aex-test/1.0\r\nAccept: */*\r\n\r\n")
private let expectedGet = HTTPRequest(
    method: "GET", target: "/v1/models?limit=10&order=asc", path: "/v1/models", query: "limit=10&order=asc",
    version: .http11,
    headers: headers(("Host", "localhost:8080"), ("User-Agent", "aex-test/1.0"), ("Accept", "*/*")),
    body: [], keepAlive: true)

private let postRequest = bytes(
    "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + "Content-Length: \(postBody.count)\r\n\r\n") + postBody
private let expectedPost = HTTPRequest(
    method: "POST", target: "/v1/chat/completions", path: "/v1/chat/completions", query: nil, version: .http11,
    headers: headers(("Host", "127.0.0.1"), ("Content-Type", "application/json"), ("Content-Length", "\(postBody.count)")),
    body: postBody, keepAlive: true)

private let chunkedRequest = bytes(
    "POST /upload HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked\r\n\r\n"
        + "5;name=value\r\nhello\r\n7 ; quoted=\"a;b\"\r\n, world\r\nA\r\n0123456789\r\n"
        + "000;last\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n")
private let expectedChunked = HTTPRequest(
    method: "POST", target: "/upload", path: "/upload", query: nil, version: .http11,
    headers: headers(("Host", "a"), ("transfer-encoding", "Chunked")),
    body: bytes("hello, world0123456789"), keepAlive: true)

let httpValidCases: [HTTPValidCase] = [
    HTTPValidCase(name: "GET without body", input: getRequest, expected: [expectedGet]),
    HTTPValidCase(name: "POST with Content-Length JSON body", input: postRequest, expected: [expectedPost]),
    HTTPValidCase(name: "chunked body with extensions and trailers", input: chunkedRequest, expected: [expectedChunked]),
    HTTPValidCase(
        name: "HTTP/1.0 defaults to close",
        input: bytes("GET /health HTTP/1.0\r\n\r\n"),
        expected: [HTTPRequest(
            method: "GET", target: "/health", path: "/health", query: nil, version: .http10,
            headers: HTTPHeaders(), body: [], keepAlive: false)]),
    HTTPValidCase(
        name: "HTTP/1.0 with Connection: keep-alive",
        input: bytes("GET /health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
        expected: [HTTPRequest(
            method: "GET", target: "/health", path: "/health", query: nil, version: .http10,
            headers: headers(("Connection", "Keep-Alive")), body: [], keepAlive: true)]),
    HTTPValidCase(
        name: "HTTP/1.1 with close in a Connection list",
        input: bytes("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n"),
        expected: [HTTPRequest(
            method: "GET", target: "/", path: "/", query: nil, version: .http11,
            headers: headers(("Host", "a"), ("Connection", "keep-alive, CLOSE")), body: [], keepAlive: false)]),
    HTTPValidCase(
        name: "leading empty lines, OPTIONS *, empty query",
        input: bytes("\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET /search? HTTP/1.1\r\nHost: a\r\n\r\n"),
        expected: [
            HTTPRequest(
                method: "OPTIONS", target: "*", path: "*", query: nil, version: .http11,
                headers: headers(("Host", "a")), body: [], keepAlive: true),
            HTTPRequest(
                method: "GET", target: "/search?", path: "/search", query: "", version: .http11,
                headers: headers(("Host", "a")), body: [], keepAlive: true),
        ]),
    HTTPValidCase(
        name: "identical Content-Length values, repeated and listed",
        input: bytes("PUT /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3 , 3\r\n\r\nabc"),
        expected: [HTTPRequest(
            method: "PUT", target: "/a", path: "/a", query: nil, version: .http11,
            headers: headers(("Host", "a"), ("Content-Length", "3"), ("content-length", "3 , 3")),
            body: bytes("abc"), keepAlive: true)]),
    HTTPValidCase(
        name: "UTF-8 value, OWS trimmed, empty value, zero Content-Length",
        input: bytes("POST /a HTTP/1.1\r\nHost:a\r\nX-Name: \t café ☕ \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n"),
        expected: [HTTPRequest(
            method: "POST", target: "/a", path: "/a", query: nil, version: .http11,
            headers: headers(("Host", "a"), ("X-Name", "café ☕"), ("X-Empty", ""), ("Content-Length", "0")),
            body: [], keepAlive: true)]),
    HTTPValidCase(
        name: "three pipelined requests",
        input: getRequest + postRequest + chunkedRequest,
        expected: [expectedGet, expectedPost, expectedChunked]),
]

struct HTTPMalformedCase: Sendable, CustomTestStringConvertible {
    var name: String
    var input: [UInt8]
    var status: Int
    var kind: String
    var testDescription: String { name }

    init(_ name: String, _ input: [UInt8], _ status: Int, _ kind: String) {
        self.name = name
        self.input = input
        self.status = status
        self.kind = kind
    }

    init(_ name: String, _ text: String, _ status: Int, _ kind: String) {
        self.init(name, bytes(text), status, kind)
    }
}

private let get = "GET / HTTP/1.1\r\nHost: a\r\n"
private let post = "POST / HTTP/1.1\r\nHost: a\r\n"
private let chunked = post + "Transfer-Encoding: chunked\r\n\r\n"

let httpMalformedCases: [HTTPMalformedCase] = [
    // Framing and smuggling.
    HTTPMalformedCase("CL and TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "smuggling"),
    HTTPMalformedCase("TE and CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400, "smuggling"),
    HTTPMalformedCase("two different CLs", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, "smuggling"),
    HTTPMalformedCase("CL list with different values", post + "Content-Length: 5, 6\r\n\r\nhello!", 400, "smuggling"),
    HTTPMalformedCase("CL with plus sign", post + "Content-Length: +5\r\n\r\nhello", 400, "malformed"),
    HTTPMalformedCase("CL with minus sign", post + "Content-Length: -5\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("CL with inner space", post + "Content-Length: 1 0\r\n\r\n0123456789", 400, "malformed"),
    HTTPMalformedCase("CL in hex", post + "Content-Length: 0x5\r\n\r\nhello", 400, "malformed"),
    HTTPMalformedCase("CL overflow", post + "Content-Length: 99999999999999999999\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("CL empty", post + "Content-Length:\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("CL list with empty element", post + "Content-Length: 5,\r\n\r\nhello", 400, "malformed"),
    HTTPMalformedCase("TE gzip", post + "Transfer-Encoding: gzip\r\n\r\n", 501, "unsupportedTransferEncoding"),
    HTTPMalformedCase("TE chunked, chunked", post + "Transfer-Encoding: chunked, chunked\r\n\r\n", 501, "unsupportedTransferEncoding"),
    HTTPMalformedCase("TE gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupportedTransferEncoding"),
    HTTPMalformedCase("two TE headers", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "unsupportedTransferEncoding"),
    HTTPMalformedCase("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "malformed"),
    // Header syntax.
    HTTPMalformedCase("space before colon", post + "Content-Length : 5\r\n\r\nhello", 400, "malformed"),
    HTTPMalformedCase("tab before colon", get + "X-A\t: 1\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("obs-fold", get + "X-A: one\r\n two\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("first header line folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", 400, "malformed"),
    HTTPMalformedCase("bare LF ending the head", get + "\n", 400, "malformed"),
    HTTPMalformedCase("bare CR inside a value", get + "X-A: a\rb\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("NUL in header value", get + "X-A: a\0b\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("DEL in header value", get + "X-A: a\u{7F}b\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("escape in header value", get + "X-A: \u{1B}[31m\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("invalid UTF-8 value", bytes(get + "X-A: ") + [0xFF, 0xFE] + bytes("\r\n\r\n"), 400, "malformed"),
    HTTPMalformedCase("overlong UTF-8 value", bytes(get + "X-A: ") + [0xC0, 0xAF] + bytes("\r\n\r\n"), 400, "malformed"),
    HTTPMalformedCase("non-token header name", get + "X(A): 1\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("empty header name", get + ": 1\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("header line without colon", get + "X-A\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("missing Host on HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("two Host headers", get + "host: b\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("two Host headers on HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("two Authorization headers", get + "Authorization: Bearer a\r\nAuthorization: Bearer a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("two Authorization headers, other case and values",
                      post + "authorization: Bearer a\r\nContent-Length: 1\r\nAUTHORIZATION: Basic b\r\n\r\nx", 400, "malformed"),
    // Request line.
    HTTPMalformedCase("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "versionNotSupported"),
    HTTPMalformedCase("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "versionNotSupported"),
    HTTPMalformedCase("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505, "versionNotSupported"),
    HTTPMalformedCase("lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("version with trailing bytes", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("missing version", "GET /\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("method with a digit", "G3T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("absolute-form target", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("authority-form target", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("asterisk without OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("control byte in target", "GET /a\u{01}b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("DEL in target", "GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("non-ASCII byte in target", bytes("GET /") + [0xC3, 0xA9] + bytes(" HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "malformed"),
    HTTPMalformedCase("fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("NUL in request line", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed"),
    // Chunked framing.
    HTTPMalformedCase("bad chunk size hex", chunked + "zz\r\nhello\r\n0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("empty chunk size", chunked + "\r\nhello\r\n0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("signed chunk size", chunked + "+5\r\nhello\r\n0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("chunk size with trailing garbage", chunked + "5 x\r\nhello\r\n0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("chunk size overflow", chunked + "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("missing CRLF after chunk data", chunked + "5\r\nhelloX\r\n0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("other bytes instead of CRLF after chunk data", chunked + "5\r\nhelloXY0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("LF only after chunk data", chunked + "5\r\nhello\n0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("bare LF after chunk size", chunked + "5\nhello\r\n0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("control byte in chunk extension", chunked + "5;a=\u{01}\r\nhello\r\n0\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("malformed trailer", chunked + "0\r\nnot a field\r\n\r\n", 400, "malformed"),
    HTTPMalformedCase("folded trailer", chunked + "0\r\nX-A: 1\r\n 2\r\n\r\n", 400, "malformed"),
]

// MARK: - Tests

@Suite("HTTP request parser")
struct HTTPRequestParserTests {
    @Test("valid request parses as expected", arguments: httpValidCases)
    func validRequest(_ testCase: HTTPValidCase) {
        #expect(parse(testCase.input) == Outcome(requests: testCase.expected))
    }

    @Test("valid request: every split and byte by byte equal the single-shot parse", arguments: httpValidCases)
    func validRequestSplits(_ testCase: HTTPValidCase) {
        let whole = parse(testCase.input)
        for parts in splits(of: testCase.input) {
            let outcome = parse(parts)
            #expect(outcome == whole, "split \(parts.map(\.count))")
            if outcome != whole { return }
        }
    }

    @Test("hostile input fails with the expected status", arguments: httpMalformedCases)
    func malformedRequest(_ testCase: HTTPMalformedCase) throws {
        let outcome = parse(testCase.input)
        #expect(outcome.requests.isEmpty)
        let error = try #require(outcome.failure)
        #expect(error.status == testCase.status)
        #expect(kind(of: error) == testCase.kind)
        #expect(error.message.hasSuffix("."))
        #expect(error.message.utf8.allSatisfy { (0x20..<0x7F).contains($0) }, "messages are plain ASCII")
    }

    @Test("hostile input: every split and byte by byte give the same failure", arguments: httpMalformedCases)
    func malformedRequestSplits(_ testCase: HTTPMalformedCase) {
        let whole = parse(testCase.input)
        for parts in splits(of: testCase.input) {
            let outcome = parse(parts)
            #expect(outcome == whole, "split \(parts.map(\.count))")
            if outcome != whole { return }
        }
    }

    @Test func everyErrorHasItsStatus() {
        #expect(HTTPParseError.malformed("x").status == 400)
        #expect(HTTPParseError.smuggling("x").status == 400)
        #expect(HTTPParseError.headersTooLarge.status == 431)
        #expect(HTTPParseError.bodyTooLarge.status == 413)
        #expect(HTTPParseError.unsupportedTransferEncoding.status == 501)
        #expect(HTTPParseError.versionNotSupported.status == 505)
    }

    // MARK: Limits

    @Test func oversizedHeadFailsBeforeItsTerminator() {
        var parser = HTTPRequestParser()
        let head = bytes(get + "X-Big: ") + [UInt8](repeating: UInt8(ascii: "a"), count: 40_000)
        parser.append(head[..<(32 * 1024)])
        #expect(parser.next() == .needMoreData)
        parser.append(head[(32 * 1024)...])
        #expect(parser.next() == .failure(.headersTooLarge))
        #expect(parser.next().failureStatus == 431)
    }

    @Test func headAtExactlyTheLimitIsAccepted() {
        let head = bytes(get + "X-Pad: " + String(repeating: "p", count: 100) + "\r\n\r\n")
        let exact = HTTPParserLimits.standard.with(headerBytesMax: head.count)
        #expect(parse(head, limits: exact).requests.count == 1)
        let tooSmall = HTTPParserLimits.standard.with(headerBytesMax: head.count - 1)
        #expect(parse(head, limits: tooSmall).failure == .headersTooLarge)
        for parts in splits(of: head) {
            #expect(parse(parts, limits: tooSmall).failure == .headersTooLarge)
        }
    }

    @Test func leadingEmptyLinesCountTowardTheHeadLimit() {
        let limits = HTTPParserLimits.standard.with(headerBytesMax: 64)
        let input = bytes(String(repeating: "\r\n", count: 40))
        #expect(parse(input, limits: limits).failure == .headersTooLarge)
    }

    @Test func headerCountLimit() {
        let atLimit = get + (1..<128).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        let outcome = parse(bytes(atLimit))
        #expect(outcome.requests.first?.headers.count == 128)
        let overLimit = get + (1...128).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(parse(bytes(overLimit)).failure == .headersTooLarge)
    }

    @Test func trailersCountTowardHeaderLimits() {
        let fewFields = HTTPParserLimits.standard.with(headerCountMax: 3)
        let trailers = chunked + "0\r\nX-A: 1\r\nX-B: 2\r\n\r\n"
        #expect(parse(bytes(trailers), limits: fewFields).failure == .headersTooLarge)
        let head = bytes(chunked)
        let smallHead = HTTPParserLimits.standard.with(headerBytesMax: head.count + 20)
        #expect(parse(bytes(chunked + "0\r\nX-Trailer: 12345678901234567890\r\n\r\n"), limits: smallHead).failure == .headersTooLarge)
        #expect(parse(bytes(chunked + "0\r\nX-T: 1\r\n\r\n"), limits: smallHead).requests.count == 1)
    }

    @Test func contentLengthOverTheLimitFailsWithoutTheBody() {
        var parser = HTTPRequestParser(limits: HTTPParserLimits.standard.with(bodyBytesMax: 1_000))
        parser.append(bytes(post + "Content-Length: 1001\r\n\r\n"))
        #expect(parser.next() == .failure(.bodyTooLarge))
        #expect(parse(bytes(post + "Content-Length: 1000\r\n\r\n") + [UInt8](repeating: 1, count: 1_000),
                      limits: HTTPParserLimits.standard.with(bodyBytesMax: 1_000)).requests.first?.body.count == 1_000)
    }

    @Test func chunkedBodyOverTheLimitFailsAsSoonAsKnown() {
        let limits = HTTPParserLimits.standard.with(bodyBytesMax: 16)
        var parser = HTTPRequestParser(limits: limits)
        parser.append(bytes(chunked + "a\r\n0123456789\r\n"))
        #expect(parser.next() == .needMoreData)
        parser.append(bytes("7\r\n"))  // 10 + 7 > 16: fails before the data arrives.
        #expect(parser.next() == .failure(.bodyTooLarge))
        #expect(parse(bytes(chunked + "11\r\n"), limits: limits).failure == .bodyTooLarge)
        #expect(parse(bytes(chunked + "fffffffffffffff\r\n"), limits: limits).failure == .bodyTooLarge)
        let exact = parse(bytes(chunked + "a\r\n0123456789\r\n6\r\nabcdef\r\n0\r\n\r\n"), limits: limits)
        #expect(exact.requests.first?.body.count == 16)
    }

    @Test func chunkSizeLineLengthIsLimited() {
        let longExtension = chunked + "5;" + String(repeating: "x", count: 5_000) + "\r\nhello\r\n0\r\n\r\n"
        #expect(parse(bytes(longExtension)).failure?.status == 400)
        let zeros = chunked + String(repeating: "0", count: 40) + "5\r\nhello\r\n0\r\n\r\n"
        #expect(parse(bytes(zeros)).requests.first?.body == bytes("hello"), "leading zeros are not an overflow")
    }

    // MARK: State

    @Test func midRequestTracking() {
        var parser = HTTPRequestParser()
        #expect(!parser.isMidRequest)
        #expect(parser.bufferedByteCount == 0)
        parser.append(postRequest.prefix(1))
        #expect(parser.next() == .needMoreData)
        #expect(parser.isMidRequest)
        #expect(!parser.isReceivingBody)
        #expect(parser.bufferedByteCount == 1)

        parser.append(postRequest.dropFirst().dropLast(5))
        #expect(parser.next() == .needMoreData)
        #expect(parser.isMidRequest)
        #expect(parser.isReceivingBody)
        parser.append(postRequest.suffix(5))
        #expect(parser.next() == .request(expectedPost))
        #expect(!parser.isMidRequest)
        #expect(!parser.isReceivingBody)
        #expect(parser.bufferedByteCount == 0)

        parser.append(getRequest + getRequest.prefix(3))
        #expect(parser.next() == .request(expectedGet))
        #expect(parser.isMidRequest, "the next pipelined request has started")
        #expect(parser.bufferedByteCount == 3)
        #expect(parser.next() == .needMoreData)

        var fresh = HTTPRequestParser()
        fresh.append(bytes("\r\n"))
        #expect(fresh.next() == .needMoreData)
        #expect(fresh.isMidRequest, "leading empty lines belong to the coming request")
    }

    @Test func chunkedBodyIsReceivingBodyUntilTrailersEnd() {
        var parser = HTTPRequestParser()
        let cut = chunkedRequest.count - 2
        parser.append(chunkedRequest[..<cut])
        #expect(parser.next() == .needMoreData)
        #expect(parser.isReceivingBody)
        parser.append(chunkedRequest[cut...])
        #expect(parser.next() == .request(expectedChunked))
        #expect(!parser.isReceivingBody)
        #expect(!parser.isMidRequest)
    }

    @Test func failedParserStaysPoisonedAndDropsInput() {
        var parser = HTTPRequestParser()
        parser.append(bytes("GET / HTTP/3.0\r\n"))
        #expect(parser.next() == .failure(.versionNotSupported))
        let buffered = parser.bufferedByteCount
        parser.append(getRequest)
        getRequest.withUnsafeBytes { parser.append($0) }
        #expect(parser.bufferedByteCount == buffered)
        for _ in 0..<3 { #expect(parser.next() == .failure(.versionNotSupported)) }
    }

    @Test func manyPipelinedRequestsInSmallReads() {
        let count = 2_000
        let stream = (0..<count).flatMap { _ in getRequest + postRequest }
        var parser = HTTPRequestParser()
        var requests: [HTTPRequest] = []
        var offset = 0
        while offset < stream.count {
            let end = min(offset + 1_500, stream.count)
            stream[offset..<end].withUnsafeBytes { parser.append($0) }
            offset = end
            while case .request(let request) = parser.next() { requests.append(request) }
            #expect(parser.bufferedByteCount < 1_500 + postRequest.count, "consumed bytes do not pile up")
        }
        #expect(requests.count == 2 * count)
        #expect(requests.last == expectedPost)
        #expect(!parser.isMidRequest)
    }

    @Test func largeBodyInManyReads() {
        let body = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let stream = bytes(post + "Content-Length: \(body.count)\r\n\r\n") + body + getRequest
        var parser = HTTPRequestParser()
        var requests: [HTTPRequest] = []
        for start in stride(from: 0, to: stream.count, by: 64 * 1024) {
            parser.append(stream[start..<min(start + 64 * 1024, stream.count)])
            while case .request(let request) = parser.next() { requests.append(request) }
        }
        #expect(requests.count == 2)
        #expect(requests.first?.body == body)
        #expect(requests.last == expectedGet)
    }

    // MARK: Headers and request fields

    @Test func headerLookupIsCaseInsensitiveAndKeepsOrder() throws {
        let input = get + "Accept: text/plain\r\nX-Trace: one\r\nx-trace: two\r\nACCEPT-language: en\r\n\r\n"
        let request = try #require(parse(bytes(input)).requests.first)
        #expect(request.headers["HOST"] == "a")
        #expect(request.headers["x-TRACE"] == "one")
        #expect(request.headers.values(for: "X-Trace") == ["one", "two"])
        #expect(request.headers.values(for: "Missing").isEmpty)
        #expect(request.headers["Missing"] == nil)
        #expect(request.headers["Accept"] == "text/plain", "no prefix matches")
        #expect(request.headers.map(\.name) == ["Host", "Accept", "X-Trace", "x-trace", "ACCEPT-language"])
        #expect(request.headers.count == 5)
    }

    @Test func targetSplitsIntoPathAndQuery() throws {
        let cases: [(target: String, path: String, query: String?)] = [
            ("/", "/", nil),
            ("/v1/chat/completions", "/v1/chat/completions", nil),
            ("/a?b=1&c=2", "/a", "b=1&c=2"),
            ("/a?b=?c", "/a", "b=?c"),
            ("/%20x?", "/%20x", ""),
        ]
        for (target, path, query) in cases {
            let request = try #require(parse(bytes("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")).requests.first)
            #expect(request.target == target)
            #expect(request.path == path)
            #expect(request.query == query)
        }
    }

    @Test func messagesNeverEchoInput() {
        let hostile = "GET /<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\nX-Évil: \0\r\n\r\n"
        let outcomes = [
            parse(bytes(hostile)),
            parse(bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Évil: \0\r\n\r\n")),
        ]
        for outcome in outcomes {
            let message = outcome.failure?.message ?? ""
            #expect(!message.isEmpty)
            #expect(!message.contains("script") && !message.contains("Évil"))
        }
    }

    // MARK: Fuzz

    @Test func seededFuzzNeverCrashesAndIsSplitInvariant() {
        var random = SeededGenerator(seed: 0xAE_C0DE)
        let corpus: [[UInt8]] = httpValidCases.map(\.input) + httpMalformedCases.map(\.input)
        let interestingTexts: [String] = [
            "\r\n", "\r", "\n", "\r\n\r\n", ":", " ", "\t", ";", ",", "0", "\0", "\u{7F}", "ffffffffffffffffff",
            "Content-Length: 5\r\n", "Content-Length: 99999999999999999999\r\n", "Transfer-Encoding: chunked\r\n",
            "Host: a\r\n", "0\r\n\r\n", "5\r\nhello\r\n", "HTTP/1.1", "HTTP/1.0", "GET / HTTP/1.1\r\n", "Connection: close\r\n",
        ]
        let interesting = interestingTexts.map(bytes) + [[0xFF], [0xC3], [0xE2, 0x98], [0x80]]
        let smallLimits = HTTPParserLimits(headerBytesMax: 200, bodyBytesMax: 24, headerCountMax: 4)

        for iteration in 0..<20_000 {
            var input: [UInt8]
            if iteration % 5 == 0 {
                let length = Int.random(in: 0..<300, using: &random)
                input = (0..<length).map { _ in
                    Bool.random(using: &random)
                        ? UInt8.random(in: 0...255, using: &random)
                        : (interesting.randomElement(using: &random)?.first ?? 0)
                }
            } else if iteration % 5 <= 2 {
                input = httpValidCases.randomElement(using: &random)?.input ?? []
                for _ in 0..<Int.random(in: 0...2, using: &random) {
                    mutate(&input, interesting: interesting, corpus: corpus, using: &random)
                }
            } else {
                input = corpus.randomElement(using: &random) ?? []
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    mutate(&input, interesting: interesting, corpus: corpus, using: &random)
                }
            }
            let limits = iteration.isMultiple(of: 2) ? smallLimits : HTTPParserLimits.standard

            var parts: [[UInt8]] = []
            var start = 0
            while start < input.count {
                let end = min(input.count, start + Int.random(in: 0...max(1, input.count / 3), using: &random))
                parts.append(Array(input[start..<end]))
                start = end
            }
            let whole = parse(input, limits: limits)
            let split = parse(parts, limits: limits)
            #expect(split == whole, "iteration \(iteration)")
            if split != whole { return }
        }
    }

    private func mutate(
        _ input: inout [UInt8], interesting: [[UInt8]], corpus: [[UInt8]], using random: inout SeededGenerator
    ) {
        let position = Int.random(in: 0...input.count, using: &random)
        switch Int.random(in: 0..<6, using: &random) {
        case 0 where position < input.count:
            input[position] = UInt8.random(in: 0...255, using: &random)
        case 1:
            input.insert(contentsOf: interesting.randomElement(using: &random) ?? [], at: position)
        case 2 where position < input.count:
            let end = min(input.count, position + Int.random(in: 1...16, using: &random))
            input.removeSubrange(position..<end)
        case 3 where position < input.count:
            let end = min(input.count, position + Int.random(in: 1...32, using: &random))
            input.insert(contentsOf: input[position..<end], at: position)
        case 4:
            input.removeSubrange(position...)
        default:
            let other = corpus.randomElement(using: &random) ?? []
            input.insert(contentsOf: other.prefix(Int.random(in: 0...other.count, using: &random)), at: position)
        }
    }
}

private extension HTTPParseResult {
    var failureStatus: Int? {
        if case .failure(let error) = self { return error.status }
        return nil
    }
}

@Suite struct HTTPHeadAwaitingBodyTests {
    @Test func theHeadIsAvailableWhileTheBodyArrivesAndOnlyThen() throws {
        var parser = HTTPRequestParser()
        parser.append(Array("POST /v1/x?q=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\nContent-Length: 4\r\n\r\nab".utf8))
        #expect(parser.headAwaitingBody == nil, "nothing is parsed before next()")
        #expect(parser.next() == .needMoreData)
        let head = try #require(parser.headAwaitingBody)
        #expect(head.method == "POST" && head.path == "/v1/x" && head.query == "q=1")
        #expect(head.headers["authorization"] == "Bearer t")
        #expect(head.body.isEmpty && head.keepAlive)
        parser.append(Array("cd".utf8))
        guard case .request(let request) = parser.next() else { Issue.record("the whole request"); return }
        #expect(request.body == Array("abcd".utf8))
        #expect(request.headers == head.headers)
        #expect(parser.headAwaitingBody == nil)

        parser.append(Array("POST /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n".utf8))
        #expect(parser.next() == .needMoreData)
        #expect(parser.headAwaitingBody?.path == "/c" && parser.headAwaitingBody?.keepAlive == false)
        parser.append(Array("0\r\n\r\nGET /g HTTP/1.1\r\nHost: a\r\n".utf8))
        guard case .request = parser.next() else { Issue.record("the chunked request"); return }
        #expect(parser.next() == .needMoreData)
        #expect(parser.headAwaitingBody == nil, "a head still arriving is not given")
    }
}

@Suite struct HTTPExpectContinueTests {
    @Test func awaitsContinueOnlyWhileAnHTTP11BodyIsAwaited() {
        var parser = HTTPRequestParser()
        parser.append(Array("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n".utf8))
        #expect(parser.next() == .needMoreData)
        #expect(parser.awaitsContinue)
        parser.continueAnswered()
        #expect(!parser.awaitsContinue, "answered once per request")
        parser.append(Array("abcPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n".utf8))
        guard case .request(let first) = parser.next() else { Issue.record("first request"); return }
        #expect(first.body == Array("abc".utf8))
        #expect(parser.next() == .needMoreData)
        #expect(parser.awaitsContinue, "the next request asks again")

        var old = HTTPRequestParser()
        old.append(Array("POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n".utf8))
        #expect(old.next() == .needMoreData)
        #expect(!old.awaitsContinue, "HTTP/1.0 clients do not get 100 Continue")

        var other = HTTPRequestParser()
        other.append(Array("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: something-else\r\n\r\n".utf8))
        #expect(other.next() == .needMoreData)
        #expect(!other.awaitsContinue)
    }
}
