/// The admin routes of `aex run`, `aex ps` and `aex kill` (`/admin/runs…`), served by the
/// `RunSupervisor` (the responder posts answers back to the loop).
///
/// - `GET /admin/runs`: the runs not ended.
/// - `POST /admin/runs` `{"agent", "command": [..], "supervisor_pid", "budget_micro"?, "ttl_seconds"?,
///   "kill_on_exhaust"?}`: starts a run; 201 with `run_id` and the run's `token` (shown once).
/// - `POST /admin/runs/ID/process` `{"pid"}`: the child `aex run` spawned.
/// - `POST /admin/runs/ID/end` `{"exit_code", "signal"}`: the child ended; 200 with `spent_micro`.
/// - `POST /admin/runs/kill` `{"target"}`: a run id, or an agent name (all its runs); 200 with the
///   ids of the runs terminated, 404 when there is no such run or agent, or nothing of it runs.
struct RunsAPI: Sendable {
    let runs: RunSupervisor
    let registry: AgentRegistry

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst(3).map(String.init)
        switch (request.method, segments.count) {
        case ("GET", 0):
            responder.respond(.json(200, .array(runs.list().map(\.json))))
        case ("POST", 0):
            start(request, responder)
        case ("POST", 1) where segments[0] == "kill":
            kill(request, responder)
        case ("POST", 2) where segments[1] == "process":
            guard let body = object(request, responder) else { return }
            guard case .int(let pid)? = body["pid"], let pid32 = Int32(exactly: pid), pid32 > 1 else {
                return invalid(responder, "'pid' must be a process id")
            }
            runs.attach(segments[0], pid: pid32) { result in
                switch result {
                case .success(let run): responder.respond(.json(200, .object(["run_id": .string(run.id), "state": .string(run.state.rawValue)])))
                case .failure(let error): respondError(responder, error)
                }
            }
        case ("POST", 2) where segments[1] == "end":
            guard let body = object(request, responder) else { return }
            let ending = RunRecords.Ending(exitCode: int32(body["exit_code"]), signal: int32(body["signal"]), reason: RunRecords.Ending.exited)
            runs.end(segments[0], ending) { result in
                switch result {
                case .success(let spent): responder.respond(.json(200, .object(["run_id": .string(segments[0]), "spent_micro": .optional(spent?.value)])))
                case .failure(let error): respondError(responder, error)
                }
            }
        default:
            responder.respond(.error(404, code: "not_found", message: "no such admin route: \(request.method) \(request.path)"))
        }
    }

    private func start(_ request: HTTPRequest, _ responder: HTTPResponder) {
        guard let body = object(request, responder) else { return }
        guard case .string(let agent)? = body["agent"] else { return invalid(responder, "'agent' is required") }
        guard case .array(let items)? = body["command"], !items.isEmpty else { return invalid(responder, "'command' must be a non-empty list") }
        var command: [String] = []
        for item in items {
            guard case .string(let argument) = item else { return invalid(responder, "'command' must be a list of strings") }
            command.append(argument)
        }
        guard case .int(let pid)? = body["supervisor_pid"], let pid32 = Int32(exactly: pid),
              let supervisor = ProcessIdentity.current(pid: pid32) else {
            return invalid(responder, "'supervisor_pid' must be a live process id")
        }
        var cap: MicroUSD?
        switch body["budget_micro"] {
        case nil, .null?: cap = nil
        case .int(let micro)? where micro >= 0: cap = MicroUSD(micro)
        default: return invalid(responder, "'budget_micro' must be a non-negative integer")
        }
        var ttl: Int64?
        switch body["ttl_seconds"] {
        case nil, .null?: ttl = nil
        case .int(let seconds)? where seconds >= 1: ttl = seconds
        default: return invalid(responder, "'ttl_seconds' must be a positive integer")
        }
        var killOnExhaust = false
        switch body["kill_on_exhaust"] {
        case nil, .null?: killOnExhaust = false
        case .bool(let flag)?: killOnExhaust = flag
        default: return invalid(responder, "'kill_on_exhaust' must be a boolean")
        }
        let runRequest = RunRecords.Request(agentName: agent, cap: cap, ttlSeconds: ttl, killOnExhaust: killOnExhaust,
                                            command: command, supervisor: supervisor)
        runs.start(runRequest) { result in
            switch result {
            case .success(let started):
                responder.respond(.json(201, .object([
                    "run_id": .string(started.run.id), "token": .string(started.token), "agent": .string(started.run.agentName),
                    "expires_at": started.run.expiresAtMicros.map { .string(WallClock.iso8601(micros: $0)) } ?? .null,
                ])))
            case .failure(let error):
                respondError(responder, error)
            }
        }
    }

    private func kill(_ request: HTTPRequest, _ responder: HTTPResponder) {
        guard let body = object(request, responder) else { return }
        guard case .string(let target)? = body["target"], !target.isEmpty else { return invalid(responder, "'target' is required") }
        let answer: @Sendable ([String]) -> Void = { killed in
            guard !killed.isEmpty else {
                return responder.respond(.error(404, code: "not_found", message: "'\(target)' has no supervised process running"))
            }
            responder.respond(.json(200, .object(["killed": .array(killed.map { .string($0) })])))
        }
        if runs.run(target) != nil {
            return runs.terminate(runID: target, reason: .killed) { stopped in answer(stopped ? [target] : []) }
        }
        guard let agent = registry.agent(named: target) else {
            return responder.respond(.error(404, code: "not_found", message: "no agent or run named '\(target)'"))
        }
        runs.terminate(agentID: agent.id, reason: .killed, completion: answer)
    }

    private func int32(_ value: JSONValue?) -> Int32? {
        guard case .int(let number)? = value else { return nil }
        return Int32(exactly: number)
    }

    private func object(_ request: HTTPRequest, _ responder: HTTPResponder) -> [String: JSONValue]? {
        guard case .object(let object)? = try? JSONReader.parse(request.body) else {
            invalid(responder, "the body must be a JSON object")
            return nil
        }
        return object
    }

    private func invalid(_ responder: HTTPResponder, _ message: String) {
        responder.respond(.error(400, code: "invalid_request", message: message))
    }

    private func respondError(_ responder: HTTPResponder, _ error: any Error) {
        switch error {
        case let error as ManagementError: responder.respond(.error(error.status, code: error.code, message: error.description))
        case let error as RunNotFound: responder.respond(.error(404, code: "not_found", message: error.description))
        default: responder.respond(.error(500, code: "internal_error", message: "the run could not be recorded: \(error)"))
        }
    }
}
