import Foundation

/// The admin routes of `aex plugin` while the daemon runs (`/admin/plugins…`): list, inspect,
/// install (`POST /admin/plugins {"path", "sha256"?, "enable"?}`), enable, disable, remove. Each
/// command blocks (a child process examines a library, the writer records the change), so it runs
/// off the loop; the answer is posted back.
struct PluginAPI: Sendable {
    let registry: PluginRegistry

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst(3).map(String.init)
        let route: (@Sendable () throws -> JSONValue)?
        switch (request.method, segments.count) {
        case ("GET", 0): route = { .array(try registry.list().map(\.json)) }
        case ("POST", 0):
            guard case .object(let body)? = try? JSONReader.parse(request.body), case .string(let path)? = body["path"] else {
                return responder.respond(.error(400, code: "invalid_request", message: "the body must be {\"path\": ..., \"sha256\"?: ..., \"enable\"?: ...}"))
            }
            var sha: String?
            if case .string(let text)? = body["sha256"] { sha = text }
            var enable = false
            if case .bool(let flag)? = body["enable"] { enable = flag }
            route = { [sha, enable] in try registry.install(path: path, expectedSHA256: sha, enable: enable).json }
        case ("GET", 1): route = { try registry.record(named: segments[0]).inspection }
        case ("POST", 2) where segments[1] == "enable": route = { try registry.enable(name: segments[0]).json }
        case ("POST", 2) where segments[1] == "disable": route = { try registry.disable(name: segments[0]).json }
        case ("DELETE", 1): route = { try registry.remove(name: segments[0]).json }
        default: route = nil
        }
        guard let route else {
            return responder.respond(.error(404, code: "not_found", message: "no such admin route: \(request.method) \(request.path)"))
        }
        DispatchQueue.global().async {
            do {
                responder.respond(.json(200, try route()))
            } catch let refusal as PluginRefusal {
                let code = refusal.status == 404 ? "not_found" : refusal.status == 409 ? "conflict" : "invalid_request"
                responder.respond(.error(refusal.status, code: code, message: refusal.description))
            } catch {
                responder.respond(.error(500, code: "internal_error", message: "\(error)"))
            }
        }
    }
}
