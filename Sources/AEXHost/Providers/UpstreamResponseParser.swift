/// Reads one HTTP/1.1 answer of a provider from the bytes its connection delivers, as a pure,
/// incremental state machine: the head (1xx answers skipped), then the body as it arrives —
/// `Content-Length`, chunked, or until the connection closes — with the chunk framing removed.
/// Body pieces are ranges of `buffer`, valid until the next `append` or `next`.
struct UpstreamResponseParser {
    /// A head (status line and headers) longer than this is refused.
    static let headBytesMax = 64 * 1024
    /// A chunk-size line longer than this is refused (hex digits and extensions).
    static let chunkSizeLineBytesMax = 1024

    enum Element: Equatable {
        /// Nothing more can be read from the bytes so far.
        case needMore
        case head(status: Int, contentType: String?)
        /// Body bytes: `buffer[range]`.
        case body(Range<Int>)
        /// The answer is complete; `keepAlive` says whether the connection may carry another.
        case end(keepAlive: Bool)
    }

    struct Failure: Error, Equatable {
        let detail: String
    }

    private enum State {
        case head
        case lengthBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case done
    }

    private(set) var buffer: [UInt8] = []
    /// Bytes of `buffer` before this are consumed.
    private var start = 0
    private var state = State.head
    private var keepAlive = true
    /// The request was HEAD: the answer has no body whatever its headers say.
    let headRequest: Bool

    init(headRequest: Bool = false) {
        self.headRequest = headRequest
    }

    /// Every byte received has been taken (nothing beyond the answer arrived).
    var isDrained: Bool { start == buffer.count }

    /// True once a byte of the answer has arrived (a reused connection that closes before that
    /// never took the request).
    private(set) var receivedAny = false

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        receivedAny = true
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 4096 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next element the bytes so far make up.
    mutating func next() throws(Failure) -> Element {
        while true {
            switch state {
            case .head:
                guard let element = try parseHead() else { return .needMore }
                if case .head = element { return element }
                continue  // a 1xx answer was skipped
            case .lengthBody(let remaining):
                if remaining == 0 {
                    state = .done
                    return .end(keepAlive: keepAlive)
                }
                guard start < buffer.count else { return .needMore }
                let taken = min(remaining, buffer.count - start)
                state = .lengthBody(remaining: remaining - taken)
                defer { start += taken }
                return .body(start..<(start + taken))
            case .chunkSize:
                guard let line = try nextLine(limit: Self.chunkSizeLineBytesMax, what: "chunk size") else { return .needMore }
                let size = try Self.chunkSize(buffer[line])
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard start < buffer.count else { return .needMore }
                let taken = min(remaining, buffer.count - start)
                state = taken == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - taken)
                defer { start += taken }
                return .body(start..<(start + taken))
            case .chunkDataEnd:
                guard let line = try nextLine(limit: 2, what: "chunk end") else { return .needMore }
                guard line.isEmpty else { throw Failure(detail: "a chunk is longer than its size") }
                state = .chunkSize
            case .trailers:
                guard let line = try nextLine(limit: Self.headBytesMax, what: "trailer") else { return .needMore }
                if line.isEmpty {
                    state = .done
                    return .end(keepAlive: keepAlive)
                }
            case .untilClose:
                guard start < buffer.count else { return .needMore }
                defer { start = buffer.count }
                return .body(start..<buffer.count)
            case .done:
                return .needMore
            }
        }
    }

    /// The connection closed: the answer ends here if it was delimited by the close.
    mutating func closed() throws(Failure) -> Element {
        switch state {
        case .untilClose:
            state = .done
            return .end(keepAlive: false)
        case .done:
            return .end(keepAlive: false)
        default:
            throw Failure(detail: receivedAny ? "the provider closed the connection before its answer ended"
                                              : "the provider closed the connection without answering")
        }
    }

    // MARK: head

    /// Parses a complete head; nil when it is not complete yet. Returns `.needMore` after skipping
    /// an informational (1xx) answer.
    private mutating func parseHead() throws(Failure) -> Element? {
        let end: Int? = buffer.withUnsafeBufferPointer { bytes in
            var index = start
            while index + 1 < bytes.count {
                if bytes[index] == 0x0A {
                    if bytes[index + 1] == 0x0A { return index + 2 }
                    if bytes[index + 1] == 0x0D, index + 2 < bytes.count, bytes[index + 2] == 0x0A { return index + 3 }
                }
                index += 1
            }
            return nil
        }
        guard let end else {
            if buffer.count - start > Self.headBytesMax { throw Failure(detail: "the answer's head is too long") }
            return nil
        }
        guard end - start <= Self.headBytesMax else { throw Failure(detail: "the answer's head is too long") }
        let headStart = start
        start = end
        var lineStart = headStart
        var status = 0
        var contentLength: Int?
        var chunked = false
        var contentType: String?
        var close = false
        var isStatusLine = true
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end, buffer[lineEnd] != 0x0A { lineEnd += 1 }
            let next = lineEnd + 1
            if lineEnd > lineStart, buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            defer { lineStart = next }
            if lineEnd == lineStart { continue }
            let line = buffer[lineStart..<lineEnd]
            if isStatusLine {
                isStatusLine = false
                (status, close) = try Self.statusLine(line)
                continue
            }
            guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex else {
                throw Failure(detail: "a malformed header line")
            }
            let name = line[line.startIndex..<colon]
            let value = Self.trimmed(line[(colon + 1)...])
            if Self.named(name, "content-length") {
                guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw Failure(detail: "an invalid Content-Length")
                }
                let length = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                if let contentLength, contentLength != length { throw Failure(detail: "conflicting Content-Length headers") }
                contentLength = length
            } else if Self.named(name, "transfer-encoding") {
                let last = value.split(separator: 0x2C).last.map { Self.trimmed($0) } ?? value
                chunked = Self.named(last, "chunked")
                if !chunked { close = true }  // another coding: the body runs to the close
            } else if Self.named(name, "connection") {
                for token in value.split(separator: 0x2C) {
                    let option = Self.trimmed(token)
                    if Self.named(option, "close") { close = true }
                    if Self.named(option, "keep-alive") { close = false }
                }
            } else if Self.named(name, "content-type") {
                contentType = String(decoding: value, as: UTF8.self)
            }
        }
        guard !isStatusLine else { throw Failure(detail: "an empty status line") }
        if status < 200 {
            return .needMore  // informational: the real answer follows
        }
        keepAlive = !close
        if headRequest || status == 204 || status == 304 {
            state = .lengthBody(remaining: 0)
        } else if chunked {
            state = .chunkSize
        } else if let contentLength {
            state = .lengthBody(remaining: contentLength)
        } else {
            state = .untilClose
            keepAlive = false
        }
        return .head(status: status, contentType: contentType)
    }

    /// The next line (without its line end) as a range of `buffer`, consumed; nil when incomplete.
    private mutating func nextLine(limit: Int, what: String) throws(Failure) -> Range<Int>? {
        let found: Int? = buffer.withUnsafeBufferPointer { bytes in
            var index = start
            while index < bytes.count {
                if bytes[index] == 0x0A { return index }
                index += 1
            }
            return nil
        }
        guard let newline = found else {
            if buffer.count - start > limit + 2 { throw Failure(detail: "a \(what) line is too long") }
            return nil
        }
        var end = newline
        if end > start, buffer[end - 1] == 0x0D { end -= 1 }
        guard end - start <= limit else { throw Failure(detail: "a \(what) line is too long") }
        defer { start = newline + 1 }
        return start..<end
    }

    static func chunkSize(_ line: ArraySlice<UInt8>) throws(Failure) -> Int {
        var size = 0
        var digits = 0
        for byte in line {
            let value: Int
            switch byte {
            case 0x30...0x39: value = Int(byte - 0x30)
            case 0x41...0x46: value = Int(byte - 0x41 + 10)
            case 0x61...0x66: value = Int(byte - 0x61 + 10)
            case 0x3B, 0x20, 0x09:  // extensions or whitespace end the size
                guard digits > 0 else { throw Failure(detail: "an invalid chunk size") }
                return size
            default: throw Failure(detail: "an invalid chunk size")
            }
            digits += 1
            guard digits <= 15 else { throw Failure(detail: "a chunk size too large") }
            size = size * 16 + value
        }
        guard digits > 0 else { throw Failure(detail: "an invalid chunk size") }
        return size
    }

    /// "HTTP/1.1 200 OK": the status, and whether the version closes by default (HTTP/1.0).
    private static func statusLine(_ line: ArraySlice<UInt8>) throws(Failure) -> (status: Int, closes: Bool) {
        let base = line.startIndex
        let prefix: StaticString = "HTTP/1."
        guard line.count >= 12, line[base + 8] == 0x20,
              (0..<7).allSatisfy({ line[base + $0] == prefix.utf8Start[$0] }),
              (9..<12).allSatisfy({ line[base + $0] >= 0x30 && line[base + $0] <= 0x39 }),
              line.count == 12 || line[base + 12] == 0x20 else {
            throw Failure(detail: "not an HTTP/1.x status line")
        }
        let status = (9..<12).reduce(0) { $0 * 10 + Int(line[base + $1] - 0x30) }
        guard status >= 100 else { throw Failure(detail: "status \(status)") }
        return (status, line[base + 7] == 0x30)
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice.removeFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice.removeLast() }
        return slice
    }

    /// ASCII case-insensitive comparison with a lowercase name.
    private static func named(_ bytes: ArraySlice<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        var index = 0
        for byte in bytes {
            let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
            if folded != expected[index] { return false }
            index += 1
        }
        return true
    }
}
