/// The head of a streamed response (`transfer-encoding: chunked`), and the byte writers shared by
/// both kinds of response.
public struct HTTPResponseHead: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]

    public init(status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        self.headers = headers
    }

    func serialized(requestID: String, keepAlive: Bool) -> [UInt8] {
        var out = [UInt8]()
        Self.writeStatusLine(status, into: &out)
        for header in headers { Self.writeHeader(header.name, header.value, into: &out) }
        Self.writeHeader("transfer-encoding", "chunked", into: &out)
        Self.writeHeader("x-request-id", requestID, into: &out)
        if !keepAlive { Self.writeHeader("connection", "close", into: &out) }
        out.append(contentsOf: [0x0d, 0x0a])
        return out
    }

    /// Appends one chunk of a chunked body to `out` (hex size, CRLF, bytes, CRLF); empty input
    /// appends nothing (the terminator is `lastChunk`).
    static func appendChunk(_ bytes: [UInt8], to out: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        let hexDigits = (Int.bitWidth - bytes.count.leadingZeroBitCount + 3) / 4
        out.reserveCapacity(out.count + hexDigits + bytes.count + 4)
        for digit in stride(from: hexDigits - 1, through: 0, by: -1) {
            let nibble = UInt8((bytes.count >> (digit * 4)) & 0xf)
            out.append(nibble < 10 ? 0x30 + nibble : 0x61 + nibble - 10)
        }
        out.append(0x0d)
        out.append(0x0a)
        out.append(contentsOf: bytes)
        out.append(0x0d)
        out.append(0x0a)
    }

    static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// The interim answer to `Expect: 100-continue`: send the body.
    static let continueInterim: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    static func writeStatusLine(_ status: Int, into out: inout [UInt8]) {
        if status == 200 { return out.append(contentsOf: statusLine200) }
        out.append(contentsOf: "HTTP/1.1 \(status) \(reason(status))\r\n".utf8)
    }

    private static let statusLine200 = Array("HTTP/1.1 200 OK\r\n".utf8)

    static func writeHeader(_ name: String, _ value: String, into out: inout [UInt8]) {
        out.append(contentsOf: name.utf8)
        out.append(0x3a)
        out.append(0x20)
        // Header injection guard: CR and LF never reach the wire.
        if value.utf8.contains(where: { $0 == 0x0d || $0 == 0x0a }) {
            for byte in value.utf8 where byte != 0x0d && byte != 0x0a { out.append(byte) }
        } else {
            out.append(contentsOf: value.utf8)
        }
        out.append(0x0d)
        out.append(0x0a)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 402: return "Payment Required"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 423: return "Locked"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }
}
