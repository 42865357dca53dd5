/// The admin routes the CLI uses to manage agents while the daemon runs (`/admin/agents…`).
/// Each change goes through `AgentService` (store writer); the answer is posted back to the loop.
struct AdminAPI: Sendable {
    let agents: AgentService
    /// Pausing or deleting an agent terminates its supervised runs (SPEC §12).
    let runs: RunSupervisor?

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst(3).map(String.init)
        switch (request.method, segments.count) {
        case ("GET", 0):
            respond(responder, 200, .array(agents.registry.all().map { AgentView($0).json }))
        case ("POST", 0):
            guard let body = jsonObject(request, responder) else { return }
            guard case .string(let name)? = body["name"] else {
                return respondError(responder, .invalid("'name' is required"))
            }
            guard let settings = settings(body, responder) else { return }
            execute(.create(name: name, settings: settings), responder: responder, created: true)
        case ("GET", 1):
            guard let agent = agents.registry.agent(named: segments[0]) else {
                return respondError(responder, .notFound(segments[0]))
            }
            respond(responder, 200, AgentView(agent).json)
        case ("PATCH", 1):
            guard let body = jsonObject(request, responder) else { return }
            guard let settings = settings(body, responder) else { return }
            execute(.update(name: segments[0], settings: settings), responder: responder)
        case ("DELETE", 1):
            execute(.delete(name: segments[0]), responder: responder, stopRuns: .agentDeleted)
        case ("POST", 2) where segments[1] == "pause":
            execute(.pause(name: segments[0]), responder: responder, stopRuns: .agentPaused)
        case ("POST", 2) where segments[1] == "resume":
            execute(.resume(name: segments[0]), responder: responder)
        case ("POST", 2) where segments[1] == "rotate-token":
            guard let body = jsonObject(request, responder, emptyAllowed: true) else { return }
            let ttl: Int64??
            switch body["ttl_seconds"] {
            case nil: ttl = nil
            case .null?: ttl = .some(nil)
            case .int(let seconds)?: ttl = .some(seconds)
            default: return respondError(responder, .invalid("'ttl_seconds' must be an integer or null"))
            }
            execute(.rotateToken(name: segments[0], ttlSeconds: ttl), responder: responder)
        default:
            responder.respond(.error(404, code: "not_found", message: "no such admin route: \(request.method) \(request.path)"))
        }
    }

    private func settings(_ body: [String: JSONValue], _ responder: HTTPResponder) -> AgentSettings? {
        var fields = body
        fields["name"] = nil
        do {
            return try AgentSettings(json: fields)
        } catch {
            respondError(responder, error)
            return nil
        }
    }

    /// `stopRuns`: the agent's runs are terminated for this reason once the command committed
    /// (answered after their `process_killed` is recorded).
    private func execute(_ command: AgentCommand, responder: HTTPResponder, created: Bool = false, stopRuns: RunStopReason? = nil) {
        agents.execute(command) { [runs] outcome in
            switch outcome {
            case .success(let result):
                let view = AgentView(result.agent, token: result.token).json
                if let runs, let reason = stopRuns {
                    return runs.terminate(agentID: result.agent.id, reason: reason) { _ in respond(responder, 200, view) }
                }
                respond(responder, created ? 201 : 200, view)
            case .failure(let error):
                respondError(responder, error)
            }
        }
    }

    private func jsonObject(_ request: HTTPRequest, _ responder: HTTPResponder, emptyAllowed: Bool = false) -> [String: JSONValue]? {
        if emptyAllowed, request.body.isEmpty { return [:] }
        do {
            guard case .object(let object) = try JSONReader.parse(request.body) else {
                respondError(responder, .invalid("the body must be a JSON object"))
                return nil
            }
            return object
        } catch {
            respondError(responder, .invalid("\(error)"))
            return nil
        }
    }

    private func respond(_ responder: HTTPResponder, _ status: Int, _ value: JSONValue) {
        responder.respond(.json(status, value))
    }

    private func respondError(_ responder: HTTPResponder, _ error: ManagementError) {
        responder.respond(.error(error.status, code: error.code, message: error.description))
    }
}
