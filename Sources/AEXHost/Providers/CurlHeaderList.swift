import CCurl

/// A libcurl header list, built once and shared by every transfer that sends the same headers (a
/// provider's calls all do). libcurl only reads the list; it stays allocated while a transfer or
/// `Egress`'s cache holds it.
final class CurlHeaderList {
    /// How many distinct header sets an `Egress` keeps built.
    static let cachedListsMax = 8

    let headers: [(String, String)]
    let list: UnsafeMutablePointer<curl_slist>?

    init(_ headers: [(String, String)]) {
        self.headers = headers
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in headers { list = curl_slist_append(list, "\(name): \(value)") }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        self.list = list
    }

    deinit {
        if let list { curl_slist_free_all(list) }
    }

    func sends(_ other: [(String, String)]) -> Bool {
        headers.count == other.count && zip(headers, other).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}
