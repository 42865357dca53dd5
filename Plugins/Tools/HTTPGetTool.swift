import Foundation
import FoundationNetworking

/// The `http_get` tool: GET only, to the hosts `config/tools.yaml` lists (passed by the host in
/// the call's context as `allowed_hosts`), http or https, no redirect to another host, text only,
/// the body cut at `textBytesMax`, within `requestTimeoutSeconds`. Runs in a tool worker.
enum HTTPGetTool {
    static let textBytesMax = 256 * 1024
    static let requestTimeoutSeconds: TimeInterval = 10

    enum Failure: Error {
        case refused(String)
    }

    /// `{"status", "content_type", "text", "truncated"}` for `url`.
    static func fetch(_ urlText: String, allowedHosts: [String]) throws(Failure) -> [String: Any] {
        guard let url = URL(string: urlText), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host?.lowercased(), !host.isEmpty
        else { throw .refused("'\(urlText)' is not an http or https URL") }
        guard isAllowed(host: host, port: url.port, allowedHosts) else {
            throw .refused("host '\(host)' is not listed in tools.yaml's http_get.allowed_hosts")
        }
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: requestTimeoutSeconds)
        request.httpMethod = "GET"
        let guardian = SameHostRedirects(host: host)
        let session = URLSession(configuration: .ephemeral, delegate: guardian, delegateQueue: nil)
        defer { session.invalidateAndCancel() }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: (Data?, URLResponse?, Error?) = (nil, nil, nil)
        session.dataTask(with: request) { data, response, error in
            outcome = (data, response, error)
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + requestTimeoutSeconds + 1) == .success else { throw .refused("the request timed out") }
        if let error = outcome.2 { throw .refused("the request failed: \(error.localizedDescription)") }
        guard let response = outcome.1 as? HTTPURLResponse else { throw .refused("no HTTP answer") }
        if (300..<400).contains(response.statusCode) {
            throw .refused("the answer redirects to another host, which is not followed")
        }
        let contentType = (response.value(forHTTPHeaderField: "Content-Type") ?? "").lowercased()
        guard isText(contentType) else { throw .refused("the answer is not text (content type '\(contentType)')") }
        let data = outcome.0 ?? Data()
        let truncated = data.count > textBytesMax
        let text = String(decoding: data.prefix(textBytesMax), as: UTF8.self)
        return ["status": response.statusCode, "content_type": contentType, "text": text, "truncated": truncated]
    }

    static func isAllowed(host: String, port: Int?, _ allowed: [String]) -> Bool {
        allowed.contains { entry in
            entry == host || (port != nil && entry == "\(host):\(port!)")
        }
    }

    static func isText(_ contentType: String) -> Bool {
        contentType.hasPrefix("text/") || contentType.hasPrefix("application/json") || contentType.hasPrefix("application/xml")
            || contentType.contains("+json") || contentType.contains("+xml") || contentType.isEmpty
    }
}

/// Follows a redirect only to the same host; any other is returned as is (and refused).
final class SameHostRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    let host: String

    init(host: String) { self.host = host }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(request.url?.host?.lowercased() == host ? request : nil)
    }
}
