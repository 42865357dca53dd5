/// Where a provider URL points, when the loop's own HTTP/1.1 client can reach it: `http://` with
/// a numeric IPv4 or IPv6 address or `localhost` (no name to resolve, which would block), no user
/// information. Anything else (`https://`, host names) goes through libcurl.
struct PlainHTTPTarget: Equatable {
    /// Numeric address to connect to.
    let address: String
    /// `localhost`: the IPv6 loopback, tried when the IPv4 one refuses (a server may listen on
    /// either, as a resolver would offer both).
    let alternateAddress: String?
    let port: UInt16
    /// The `Host` header: the URL's authority.
    let hostHeader: String
    /// Path and query, starting with "/".
    let pathAndQuery: String

    /// Pool key: connections are shared by requests to the same address and port (`localhost`
    /// apart: its connections may be to either loopback).
    var endpoint: String { alternateAddress == nil ? "\(address)|\(port)" : "localhost|\(port)" }

    init?(url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.utf8.dropFirst(7)
        let authorityEnd = rest.firstIndex(where: { $0 == 0x2F || $0 == 0x3F || $0 == 0x23 }) ?? rest.endIndex
        let authority = String(Substring(rest[rest.startIndex..<authorityEnd]))
        var path = String(Substring(rest[authorityEnd...]))
        if let fragment = path.firstIndex(of: "#") { path = String(path[..<fragment]) }
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        // A request target goes on the request line as it is: nothing that would end or split it.
        guard !authority.isEmpty, !authority.contains("@"),
              path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        var host: Substring
        var portText: Substring?
        var alternate: String?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
            guard host.contains(":") else { return nil }
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return nil }
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
            if host.lowercased() == "localhost" {
                host = "127.0.0.1"
                alternate = "::1"
            } else {
                let octets = host.split(separator: ".", omittingEmptySubsequences: false)
                guard octets.count == 4, octets.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && UInt8($0) != nil })
                else { return nil }
            }
        }
        var port: UInt16 = 80
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, let parsed = UInt16(portText), parsed > 0 else { return nil }
            port = parsed
        }
        address = String(host)
        alternateAddress = alternate
        self.port = port
        hostHeader = authority
        pathAndQuery = path
    }
}
