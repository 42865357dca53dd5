/// An incremental HTTP/1.1 request parser (the RFC 9112 subset a hardened local API needs): a
/// plain value fed with bytes by `append(_:)`, drained by `next()` one request at a time.
///
/// Invariants:
/// - Pure: no I/O, no clock, no Foundation. Decisions depend on the bytes alone.
/// - Split invariance: the sequence of results depends only on the concatenation of the appended
///   bytes, never on how they were split. Every decision is taken at a fixed byte position: the
///   end of a line, the first byte beyond a limit, or the last byte of a body.
/// - Bytes live in one buffer and are scanned by index; a partial line is never rescanned (the
///   scan resumes where it stopped). The buffer is reset when fully consumed and compacted only
///   when the consumed prefix is at least `compactionBytesMin` and at least half of it.
/// - Lines end with CRLF. A bare CR or bare LF in a head, chunk-size line or trailer is rejected.
/// - The header section (leading empty lines, request line, fields, final CRLF) never exceeds
///   `limits.headerBytesMax`: the first byte beyond it fails with `.headersTooLarge`, whether or
///   not a terminator has arrived. Chunked trailers spend the same budget; header and trailer
///   fields together never exceed `limits.headerCountMax`.
/// - A body is framed by Content-Length or by exactly `chunked`, never both (`.smuggling`);
///   without framing it is empty. It never exceeds `limits.bodyBytesMax`: a declared length or a
///   chunk size over the remaining budget fails before any of those body bytes arrive.
/// - Transfer-Encoding in an HTTP/1.0 request is rejected (its framing is unreliable).
/// - At most one Host and one Authorization field: a repeated credential is ambiguous (which one
///   would be checked?) and is rejected before anyone authenticates it.
/// - After a failure the parser is poisoned: `next()` returns the same failure forever and
///   `append` discards bytes.
/// - No input can trap: no force unwraps, and size arithmetic is overflow-checked.
/// - Pipelined bytes stay buffered until the next `next()`; `bufferedByteCount` lets the caller
///   bound them (the parser itself only bounds the request being parsed).
public struct HTTPRequestParser: Sendable {
    /// Longest chunk-size line, extensions and CRLF included.
    static let chunkSizeLineBytesMax = 4 * 1024
    /// Smallest consumed prefix worth moving the unconsumed bytes for.
    static let compactionBytesMin = 4 * 1024
    /// Capacity above which a fully consumed buffer is released instead of kept for reuse.
    static let retainedCapacityBytesMax = 64 * 1024

    public let limits: HTTPParserLimits

    private var buffer: [UInt8] = []
    /// First byte not yet consumed.
    private var readIndex = 0
    /// Where the scan of the current, incomplete line resumes (`readIndex...buffer.count`).
    private var scanIndex = 0
    private var state = State.requestLine
    /// Bytes of the current request's header section (and trailers) consumed so far.
    private var headByteCount = 0
    /// Header and trailer fields of the current request so far.
    private var fieldCount = 0
    private var head = PartialHead()
    private var chunkedBody: [UInt8] = []
    private var failure: HTTPParseError?

    public init(limits: HTTPParserLimits) {
        self.limits = limits
    }

    /// Raw bytes appended but not yet consumed (decoded chunked body bytes are not counted).
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// True once any byte of a request that is not complete yet has been received (leading
    /// empty lines included); false on a fresh parser and right after a request was consumed
    /// with nothing behind it.
    public var isMidRequest: Bool {
        if case .requestLine = state { return headByteCount > 0 || readIndex < buffer.count }
        return true
    }

    /// True when the head of the current request is complete and its body (or its chunked
    /// trailers) is still arriving.
    public var isReceivingBody: Bool {
        switch state {
        case .requestLine, .headerLines: false
        case .fixedBody, .chunkSizeLine, .chunkData, .chunkDataEnd, .trailerLines: true
        }
    }

    /// The head of the current request while its body (or its chunked trailers) is still
    /// arriving, with an empty body; nil otherwise. Lets the server refuse a request from its head
    /// without reading the body.
    public var headAwaitingBody: HTTPRequest? {
        guard isReceivingBody else { return nil }
        return Self.request(from: head, body: [])
    }

    /// True when the client asked (`Expect: 100-continue`, HTTP/1.1) to be told to send the body of
    /// the current request, whose head is complete, and it has not been told yet. The caller sends
    /// `100 Continue` and calls `continueAnswered()`.
    public var awaitsContinue: Bool {
        guard isReceivingBody, head.expectsContinue, !head.continueAnswered else { return false }
        return head.requestLine.version == .http11
    }

    public mutating func continueAnswered() { head.continueAnswered = true }

    /// Buffers bytes; they are parsed by `next()`. Discarded once the parser has failed.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, !bytes.isEmpty else { return }
        compactIfWorthwhile()
        bytes.withMemoryRebound(to: UInt8.self) { buffer.append(contentsOf: $0) }
    }

    /// Buffers bytes; they are parsed by `next()`. Discarded once the parser has failed.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        guard failure == nil else { return }
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// The next complete request, or why there is none. Call again after a request: pipelined
    /// requests may already be buffered.
    public mutating func next() -> HTTPParseResult {
        if let failure { return .failure(failure) }
        let result: HTTPParseResult
        do throws(HTTPParseError) {
            result = try parseNext().map { .request($0) } ?? .needMoreData
        } catch {
            failure = error
            result = .failure(error)
        }
        if readIndex == buffer.count { compactIfWorthwhile() }
        return result
    }

    // MARK: - State machine

    private enum State: Sendable {
        case requestLine
        case headerLines
        case fixedBody(byteCount: Int)
        case chunkSizeLine
        case chunkData(remainingByteCount: Int)
        case chunkDataEnd
        case trailerLines
    }

    /// What the head says so far about the request being parsed.
    private struct PartialHead: Sendable {
        var requestLine = RequestLine()
        var headers = HTTPHeaders(capacity: 16)
        var hostCount = 0
        var authorizationCount = 0
        var contentLength: Int?
        var transferEncodingCount = 0
        var transferEncodingIsChunked = false
        var connectionClose = false
        var connectionKeepAlive = false
        /// `Expect: 100-continue` (honoured for HTTP/1.1 only), and whether it was answered.
        var expectsContinue = false
        var continueAnswered = false
    }

    private struct RequestLine: Sendable {
        var method = ""
        var target = ""
        var path = ""
        var query: String?
        var version = HTTPVersion.http11
    }

    private enum FieldKind {
        case other
        case host
        case authorization
        case contentLength(Int)
        case transferEncoding(isChunked: Bool)
        case connection(close: Bool, keepAlive: Bool)
        case expectContinue
    }

    private enum LineScan {
        case incomplete(resumeIndex: Int)
        /// A complete line; the range excludes its CRLF.
        case line(Range<Int>)
    }

    /// Runs the state machine until a request completes (returned) or the bytes run out (nil).
    private mutating func parseNext() throws(HTTPParseError) -> HTTPRequest? {
        while true {
            switch state {
            case .requestLine:
                guard let line = try nextLine(byteBudget: headByteBudget, overBudget: .headersTooLarge) else { return nil }
                consumeHeadLine(line)
                if line.isEmpty { continue }  // RFC 9112 §2.2: empty lines before a request are ignored.
                head.requestLine = try buffer.withUnsafeBufferPointer { (bytes) throws(HTTPParseError) in
                    try Self.parseRequestLine(bytes, line)
                }
                state = .headerLines

            case .headerLines:
                guard let line = try nextLine(byteBudget: headByteBudget, overBudget: .headersTooLarge) else { return nil }
                consumeHeadLine(line)
                if line.isEmpty {
                    if let request = try finishHead() { return request }
                } else {
                    try addField(line)
                }

            case .fixedBody(let byteCount):
                guard bufferedByteCount >= byteCount else { return nil }
                let body = Array(buffer[readIndex..<(readIndex + byteCount)])
                consume(through: readIndex + byteCount)
                return completeRequest(body: body)

            case .chunkSizeLine:
                let overBudget = HTTPParseError.malformed("a chunk size line is too long")
                guard let line = try nextLine(byteBudget: Self.chunkSizeLineBytesMax, overBudget: overBudget) else { return nil }
                consume(through: line.upperBound + 2)
                let chunkByteCount = try buffer.withUnsafeBufferPointer { (bytes) throws(HTTPParseError) in
                    try Self.parseChunkSize(bytes, line)
                }
                if chunkByteCount == 0 {
                    state = .trailerLines
                } else {
                    guard chunkByteCount <= limits.bodyBytesMax - chunkedBody.count else { throw .bodyTooLarge }
                    state = .chunkData(remainingByteCount: chunkByteCount)
                }

            case .chunkData(let remainingByteCount):
                let takenByteCount = min(remainingByteCount, bufferedByteCount)
                guard takenByteCount > 0 else { return nil }
                chunkedBody.append(contentsOf: buffer[readIndex..<(readIndex + takenByteCount)])
                consume(through: readIndex + takenByteCount)
                let leftByteCount = remainingByteCount - takenByteCount
                state = leftByteCount == 0 ? .chunkDataEnd : .chunkData(remainingByteCount: leftByteCount)

            case .chunkDataEnd:
                // Each byte is judged as soon as it arrives: "X" fails without waiting for another.
                let missingCRLF = HTTPParseError.malformed("chunk data must be followed by CRLF")
                guard bufferedByteCount >= 1 else { return nil }
                guard buffer[readIndex] == .cr else { throw missingCRLF }
                guard bufferedByteCount >= 2 else { return nil }
                guard buffer[readIndex + 1] == .lf else { throw missingCRLF }
                consume(through: readIndex + 2)
                state = .chunkSizeLine

            case .trailerLines:
                guard let line = try nextLine(byteBudget: headByteBudget, overBudget: .headersTooLarge) else { return nil }
                consumeHeadLine(line)
                if line.isEmpty {
                    var body: [UInt8] = []
                    swap(&body, &chunkedBody)
                    return completeRequest(body: body)
                }
                // Trailer fields are validated like header fields, then dropped.
                try countField()
                _ = try buffer.withUnsafeBufferPointer { (bytes) throws(HTTPParseError) in try Self.parseField(bytes, line) }
            }
        }
    }

    /// Bytes the current line may still use from the header section budget.
    private var headByteBudget: Int { limits.headerBytesMax - headByteCount }

    /// The next complete line (without its CRLF), or nil when it has not fully arrived. Throws
    /// when it breaks the line rules or when it would exceed `byteBudget` bytes with its CRLF.
    private mutating func nextLine(byteBudget: Int, overBudget: HTTPParseError) throws(HTTPParseError) -> Range<Int>? {
        let start = readIndex
        let resume = scanIndex
        let scan = try buffer.withUnsafeBufferPointer { (bytes) throws(HTTPParseError) in
            try Self.scanLine(bytes, lineStart: start, resumeIndex: resume, byteBudget: byteBudget, overBudget: overBudget)
        }
        switch scan {
        case .incomplete(let resumeIndex):
            scanIndex = resumeIndex
            return nil
        case .line(let content):
            return content
        }
    }

    private mutating func consume(through index: Int) {
        readIndex = index
        scanIndex = index
    }

    /// Consumes a head or trailer line and its CRLF, spending the header section budget.
    private mutating func consumeHeadLine(_ content: Range<Int>) {
        let nextIndex = content.upperBound + 2
        headByteCount += nextIndex - readIndex
        consume(through: nextIndex)
    }

    private mutating func countField() throws(HTTPParseError) {
        guard fieldCount < limits.headerCountMax else { throw .headersTooLarge }
        fieldCount += 1
    }

    private mutating func addField(_ line: Range<Int>) throws(HTTPParseError) {
        try countField()
        let (name, value, kind) = try buffer.withUnsafeBufferPointer { (bytes) throws(HTTPParseError) in
            try Self.parseField(bytes, line)
        }
        switch kind {
        case .other:
            break
        case .host:
            head.hostCount += 1
        case .authorization:
            head.authorizationCount += 1
        case .contentLength(let length):
            if let previous = head.contentLength, previous != length { throw .smuggling("Content-Length values differ") }
            head.contentLength = length
        case .transferEncoding(let isChunked):
            head.transferEncodingCount += 1
            head.transferEncodingIsChunked = isChunked
        case .connection(let close, let keepAlive):
            head.connectionClose = head.connectionClose || close
            head.connectionKeepAlive = head.connectionKeepAlive || keepAlive
        case .expectContinue:
            head.expectsContinue = true
        }
        head.headers.add(name: consume name, value: consume value)
    }

    /// Checks the complete head and picks the body framing. Returns the request when it has no
    /// body, nil when a body follows.
    private mutating func finishHead() throws(HTTPParseError) -> HTTPRequest? {
        let version = head.requestLine.version
        if version == .http11, head.hostCount == 0 { throw .malformed("HTTP/1.1 requests need a Host header") }
        if head.hostCount > 1 { throw .malformed("a request may have only one Host header") }
        if head.authorizationCount > 1 { throw .malformed("a request may have only one Authorization header") }
        if head.transferEncodingCount > 0 {
            if head.contentLength != nil { throw .smuggling("both Content-Length and Transfer-Encoding are present") }
            if version == .http10 { throw .malformed("Transfer-Encoding is not allowed in HTTP/1.0") }
            guard head.transferEncodingCount == 1, head.transferEncodingIsChunked else { throw .unsupportedTransferEncoding }
            state = .chunkSizeLine
            return nil
        }
        if let length = head.contentLength, length > 0 {
            guard length <= limits.bodyBytesMax else { throw .bodyTooLarge }
            state = .fixedBody(byteCount: length)
            return nil
        }
        return completeRequest(body: [])
    }

    /// Builds the request from the parsed head and resets for the next one.
    private mutating func completeRequest(body: [UInt8]) -> HTTPRequest {
        var finished = PartialHead()
        swap(&finished, &head)  // Moves the strings out without retaining them.
        headByteCount = 0
        fieldCount = 0
        state = .requestLine
        return Self.request(from: finished, body: body)
    }

    private static func request(from head: PartialHead, body: [UInt8]) -> HTTPRequest {
        let line = head.requestLine
        let keepAlive = switch line.version {
        case .http11: !head.connectionClose
        case .http10: head.connectionKeepAlive && !head.connectionClose
        }
        return HTTPRequest(
            method: line.method, target: line.target, path: line.path, query: line.query,
            version: line.version, headers: head.headers, body: body, keepAlive: keepAlive)
    }

    private mutating func compactIfWorthwhile() {
        if readIndex == buffer.count {
            guard !buffer.isEmpty else { return }
            if buffer.capacity > Self.retainedCapacityBytesMax {
                buffer = []
            } else {
                buffer.removeAll(keepingCapacity: true)
            }
            readIndex = 0
            scanIndex = 0
        } else if readIndex >= Self.compactionBytesMin, readIndex >= buffer.count - readIndex {
            buffer.removeSubrange(0..<readIndex)
            scanIndex -= readIndex
            readIndex = 0
        }
    }

    // MARK: - Byte-level parsing (pure functions over the buffer)

    /// Scans for the CRLF ending the line that starts at `lineStart`, resuming at `resumeIndex`.
    /// At each byte position the budget is checked first, then the byte.
    private static func scanLine(
        _ bytes: UnsafeBufferPointer<UInt8>, lineStart: Int, resumeIndex: Int, byteBudget: Int, overBudget: HTTPParseError
    ) throws(HTTPParseError) -> LineScan {
        let budgetEnd = lineStart + max(byteBudget, 0)  // First position beyond the budget.
        let scanEnd = min(bytes.count, budgetEnd)
        var index = resumeIndex
        while index < scanEnd {
            let byte = bytes[index]
            if byte > .cr {
                index += 1
                continue
            }
            if byte == .cr {
                let lfIndex = index + 1
                if lfIndex >= bytes.count { return .incomplete(resumeIndex: index) }
                if lfIndex >= budgetEnd { throw overBudget }
                guard bytes[lfIndex] == .lf else { throw .malformed("a CR must be followed by LF") }
                return .line(lineStart..<index)
            }
            if byte == .lf { throw .malformed("lines must end with CRLF, not a bare LF") }
            index += 1
        }
        if index < bytes.count { throw overBudget }  // Stopped at the budget with bytes beyond it.
        return .incomplete(resumeIndex: index)
    }

    /// `METHOD SP request-target SP HTTP/DIGIT.DIGIT`
    private static func parseRequestLine(
        _ bytes: UnsafeBufferPointer<UInt8>, _ line: Range<Int>
    ) throws(HTTPParseError) -> RequestLine {
        let end = line.upperBound
        var index = line.lowerBound

        let methodStart = index
        while index < end, bytes[index] != .space {
            guard bytes[index].isUppercaseLetter else { throw .malformed("the method must be uppercase letters") }
            index += 1
        }
        let methodRange = methodStart..<index
        guard !methodRange.isEmpty, index < end else { throw .malformed("the request line is incomplete") }
        index += 1

        let targetStart = index
        var queryStart: Int?
        while index < end, bytes[index] != .space {
            let byte = bytes[index]
            guard byte > .space, byte < 0x7F, byte != .numberSign else {
                throw .malformed("the request target contains a forbidden character")
            }
            if byte == .questionMark, queryStart == nil { queryStart = index + 1 }
            index += 1
        }
        let targetRange = targetStart..<index
        guard !targetRange.isEmpty, index < end else { throw .malformed("the request line is incomplete") }
        index += 1

        if targetRange.count == 1, bytes[targetStart] == .asterisk {
            guard equals(bytes, methodRange, "OPTIONS") else { throw .malformed("the target * is only allowed with OPTIONS") }
        } else if bytes[targetStart] != .slash {
            throw .malformed("the request target must be an absolute path")
        }

        guard end - index == 8, equals(bytes, index..<(index + 5), "HTTP/"), bytes[index + 5].isDigit,
              bytes[index + 6] == .period, bytes[index + 7].isDigit
        else { throw .malformed("the HTTP version is malformed") }
        let version: HTTPVersion
        switch (bytes[index + 5], bytes[index + 7]) {
        case (UInt8(ascii: "1"), UInt8(ascii: "1")): version = .http11
        case (UInt8(ascii: "1"), UInt8(ascii: "0")): version = .http10
        default: throw .versionNotSupported
        }

        let pathEnd = queryStart.map { $0 - 1 } ?? targetRange.upperBound
        return RequestLine(
            method: string(bytes, methodRange),
            target: string(bytes, targetRange),
            path: string(bytes, targetStart..<pathEnd),
            query: queryStart.map { string(bytes, $0..<targetRange.upperBound) },
            version: version)
    }

    /// `field-name ":" OWS field-value OWS`, the value valid UTF-8 without control characters.
    private static func parseField(_ bytes: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) throws(HTTPParseError) -> (name: String, value: String, kind: FieldKind) {
        let end = line.upperBound
        var index = line.lowerBound
        guard !bytes[index].isWhitespace else {
            throw .malformed("header lines may not start with whitespace (obsolete line folding)")
        }
        while index < end, bytes[index].isTokenCharacter { index += 1 }
        guard index < end, bytes[index] == .colon else {
            if index < end, bytes[index].isWhitespace {
                throw .malformed("whitespace between a header name and its colon is not allowed")
            }
            throw .malformed("a header name is invalid")
        }
        let nameRange = line.lowerBound..<index
        guard !nameRange.isEmpty else { throw .malformed("a header name is empty") }

        let valueRange = trimmingWhitespace(bytes, (index + 1)..<end)
        var isASCII = true
        for position in valueRange {
            let byte = bytes[position]
            if byte >= 0x80 {
                isASCII = false
            } else if byte.isControl {
                throw .malformed("a header value contains a control character")
            }
        }
        let value: String
        if isASCII {
            value = string(bytes, valueRange)
        } else {
            guard let decoded = String(validating: UnsafeBufferPointer(rebasing: bytes[valueRange]), as: UTF8.self) else {
                throw .malformed("a header value is not valid UTF-8")
            }
            value = decoded
        }

        let kind: FieldKind
        if equalsIgnoringCase(bytes, nameRange, "host") {
            kind = .host
        } else if equalsIgnoringCase(bytes, nameRange, "authorization") {
            kind = .authorization
        } else if equalsIgnoringCase(bytes, nameRange, "content-length") {
            kind = .contentLength(try parseContentLength(bytes, valueRange))
        } else if equalsIgnoringCase(bytes, nameRange, "transfer-encoding") {
            kind = .transferEncoding(isChunked: equalsIgnoringCase(bytes, valueRange, "chunked"))
        } else if equalsIgnoringCase(bytes, nameRange, "connection") {
            var close = false
            var keepAlive = false
            forEachListElement(bytes, valueRange) { element in
                close = close || equalsIgnoringCase(bytes, element, "close")
                keepAlive = keepAlive || equalsIgnoringCase(bytes, element, "keep-alive")
            }
            kind = .connection(close: close, keepAlive: keepAlive)
        } else if equalsIgnoringCase(bytes, nameRange, "expect"), equalsIgnoringCase(bytes, valueRange, "100-continue") {
            kind = .expectContinue
        } else {
            kind = .other
        }
        return (name: string(bytes, nameRange), value: value, kind: kind)
    }

    /// `1*DIGIT`, or a comma-separated list of identical ones.
    private static func parseContentLength(_ bytes: UnsafeBufferPointer<UInt8>, _ value: Range<Int>) throws(HTTPParseError) -> Int {
        var length: Int?
        try forEachListElement(bytes, value) { (element) throws(HTTPParseError) in
            guard !element.isEmpty else { throw .malformed("Content-Length is not a number") }
            var number = 0
            for position in element {
                let byte = bytes[position]
                guard byte.isDigit else { throw .malformed("Content-Length is not a number") }
                let (shifted, shiftOverflow) = number.multipliedReportingOverflow(by: 10)
                let (sum, sumOverflow) = shifted.addingReportingOverflow(Int(byte &- .zero))
                guard !shiftOverflow, !sumOverflow else { throw .malformed("Content-Length is too large") }
                number = sum
            }
            if let length, length != number { throw .smuggling("Content-Length values differ") }
            length = number
        }
        return length ?? 0  // Not reached: a list has at least one element, and empty ones throw.
    }

    /// `1*HEXDIG [ BWS ";" chunk-ext ]`; extensions are checked for control bytes and ignored.
    private static func parseChunkSize(_ bytes: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) throws(HTTPParseError) -> Int {
        let end = line.upperBound
        var index = line.lowerBound
        var size = 0
        while index < end, let digit = bytes[index].hexValue {
            let (shifted, shiftOverflow) = size.multipliedReportingOverflow(by: 16)
            let (sum, sumOverflow) = shifted.addingReportingOverflow(digit)
            guard !shiftOverflow, !sumOverflow else { throw .malformed("a chunk size is too large") }
            size = sum
            index += 1
        }
        guard index > line.lowerBound else { throw .malformed("a chunk size is not hexadecimal") }
        if index == end { return size }
        while index < end, bytes[index].isWhitespace { index += 1 }
        guard index < end, bytes[index] == .semicolon else { throw .malformed("a chunk size is not hexadecimal") }
        for position in (index + 1)..<end where bytes[position].isControl {
            throw .malformed("a chunk extension contains a control character")
        }
        return size
    }

    /// Calls `body` with each comma-separated element of `range`, OWS trimmed (possibly empty).
    private static func forEachListElement<E: Error>(
        _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ body: (Range<Int>) throws(E) -> Void
    ) throws(E) {
        var elementStart = range.lowerBound
        while true {
            var elementEnd = elementStart
            while elementEnd < range.upperBound, bytes[elementEnd] != .comma { elementEnd += 1 }
            try body(trimmingWhitespace(bytes, elementStart..<elementEnd))
            guard elementEnd < range.upperBound else { return }
            elementStart = elementEnd + 1
        }
    }

    private static func trimmingWhitespace(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var start = range.lowerBound
        var end = range.upperBound
        while start < end, bytes[start].isWhitespace { start += 1 }
        while end > start, bytes[end - 1].isWhitespace { end -= 1 }
        return start..<end
    }

    private static func string(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    private static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        for (offset, position) in range.enumerated() where bytes[position] != expected[offset] { return false }
        return true
    }

    /// ASCII case-insensitive comparison with a lowercase literal.
    private static func equalsIgnoringCase(
        _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ lowercaseLiteral: StaticString
    ) -> Bool {
        guard range.count == lowercaseLiteral.utf8CodeUnitCount else { return false }
        let expected = lowercaseLiteral.utf8Start
        for (offset, position) in range.enumerated() where bytes[position].asciiLowercased != expected[offset] {
            return false
        }
        return true
    }
}

private extension UInt8 {
    static let tab = UInt8(ascii: "\t")
    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let numberSign = UInt8(ascii: "#")
    static let asterisk = UInt8(ascii: "*")
    static let comma = UInt8(ascii: ",")
    static let period = UInt8(ascii: ".")
    static let slash = UInt8(ascii: "/")
    static let zero = UInt8(ascii: "0")
    static let colon = UInt8(ascii: ":")
    static let semicolon = UInt8(ascii: ";")
    static let questionMark = UInt8(ascii: "?")

    var isDigit: Bool { self &- .zero < 10 }
    var isUppercaseLetter: Bool { self &- UInt8(ascii: "A") < 26 }
    var isWhitespace: Bool { self == .space || self == .tab }
    /// A control character other than HT (which field values may contain).
    var isControl: Bool { (self < .space && self != .tab) || self == 0x7F }
    var asciiLowercased: UInt8 { isUppercaseLetter ? self | 0x20 : self }

    var hexValue: Int? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(self &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(self &- UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(self &- UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    /// RFC 9110 `tchar`.
    var isTokenCharacter: Bool {
        switch self {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
