import CLinux
import Foundation
import Glibc

/// A minimal blocking HTTP/1.1 client for the CLI's calls to its own daemon on loopback: one
/// request per connection (`connection: close`), body read to the end. Not for the request path.
public enum LoopbackHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]
    }

    public static let responseBytesMax = 64 * 1024 * 1024
    /// Bytes read per `recv(2)` call.
    static let readChunkBytes = 16 * 1024

    public static func send(
        host: String, port: Int, method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeoutMilliseconds: Int32 = 30_000
    ) throws -> Response {
        let fd = aex_connect_tcp(host, UInt16(port), timeoutMilliseconds)
        guard fd >= 0 else { throw SystemError.last("connecting to \(host):\(port)") }
        defer { close(fd) }
        var request = "\(method) \(path) HTTP/1.1\r\nhost: \(host):\(port)\r\nconnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PATCH" || method == "PUT" {
            request += "content-type: application/json\r\ncontent-length: \(body.count)\r\n"
        }
        let bytes = Array((request + "\r\n").utf8) + body
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { throw SystemError.last("sending to \(host):\(port)") }
            offset += sent
        }
        var received = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: Self.readChunkBytes)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw SystemError.last("reading from \(host):\(port)") }
            if count == 0 { break }
            received.append(contentsOf: chunk[0..<count])
            guard received.count <= responseBytesMax else { throw ConfigurationError("response from the daemon is too large") }
        }
        return try parse(received)
    }

    /// Splits a whole `connection: close` response into status, headers and body.
    static func parse(_ bytes: [UInt8]) throws -> Response {
        let terminator: [UInt8] = [0x0d, 0x0a, 0x0d, 0x0a]
        guard let headEnd = bytes.indices.first(where: { bytes[$0...].starts(with: terminator) }) else {
            throw ConfigurationError("the daemon sent an incomplete response")
        }
        let lines = String(decoding: bytes[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw ConfigurationError("the daemon sent a malformed status line")
        }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.add(name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingSpaces)
        }
        var body = Array(bytes[(headEnd + 4)...])
        if let length = headers["content-length"].flatMap(Int.init), length <= body.count {
            body = Array(body.prefix(length))
        }
        return Response(status: status, headers: headers, body: body)
    }
}
