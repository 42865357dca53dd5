import Foundation
import Glibc

/// `aex run`, `aex ps`, `aex kill` (SPEC §12): supervised runs of agent commands.
enum RunCLI {
    static let run = CommandSpec(
        ["run"],
        summary: "Run a command under an agent: it gets OPENAI_BASE_URL and a run-scoped OPENAI_API_KEY, runs in its own process group, and aex exits with its status.",
        options: [
            .value("--agent", "NAME", "the agent whose budget and policy govern the run (required)"),
            .value("--budget", "USD", "cap this run's spending inside the agent's budget"),
            .value("--ttl", "D", "the run token's lifetime: 90s, 30m, 12h, 7d (default: the run's)"),
            .flag("--kill-on-exhaust", "terminate the run when its budget (or the agent's) is exhausted"),
        ],
        takesTrailingCommand: true)
    static let ps = CommandSpec(["ps"], summary: "List the processes supervised by 'aex run'.", options: [AgentCLI.json])
    static let kill = CommandSpec(
        ["kill"], positionals: ["NAME|RUN_ID"],
        summary: "Terminate an agent's supervised processes, or one run's (SIGTERM, then SIGKILL after the grace period).",
        options: [AgentCLI.json])

    static let all = [run, ps, kill]

    static func run(_ spec: CommandSpec, _ arguments: ParsedArguments, _ home: AEXHome) throws -> Int32 {
        switch spec.words {
        case ["run"]: return try supervise(arguments, home)
        case ["ps"]: return try list(arguments, home)
        default: return try terminate(arguments, home)
        }
    }

    // MARK: aex run

    /// The variables of the caller's environment that hold provider keys: every `*_API_KEY` and each
    /// provider's `api_key_env` in `models.yaml`. None reaches the child.
    static func providerKeyVariables(_ environment: [String: String], home: AEXHome) -> Set<String> {
        var names = Set(environment.keys.filter { $0.hasSuffix("_API_KEY") })
        if let config = try? ModelsConfig.load(path: home.modelsConfigPath, providerTypes: nil) {
            names.formUnion(config.providers.values.map(\.apiKeyEnv))
        }
        return names
    }

    /// The child's environment: the caller's without provider keys, with the run's endpoint and token.
    static func childEnvironment(_ caller: [String: String], home: AEXHome, baseURL: String, token: String,
                                 agent: String, runID: String) -> [String: String] {
        var environment = caller
        for name in providerKeyVariables(caller, home: home) { environment[name] = nil }
        environment["OPENAI_BASE_URL"] = baseURL
        environment["OPENAI_API_BASE"] = baseURL
        environment["OPENAI_API_KEY"] = token
        environment["AEX_AGENT"] = agent
        environment["AEX_RUN_ID"] = runID
        return environment
    }

    /// Where the child reaches the daemon: its listening address, or loopback when it listens on all.
    static func baseURL(_ state: DaemonState) -> String {
        let host = switch state.host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::", "[::]": "[::1]"
        case let host where host.contains(":") && !host.hasPrefix("["): "[\(host)]"
        case let host: host
        }
        return "http://\(host):\(state.port)/v1"
    }

    private static func supervise(_ arguments: ParsedArguments, _ home: AEXHome) throws -> Int32 {
        guard let agent = arguments.value("--agent") else { throw UsageError("--agent NAME is required") }
        guard !arguments.trailing.isEmpty else { throw UsageError("a command to run is required") }
        let cap = try arguments.value("--budget").map { text throws(UsageError) in try ValueParsers.money(text, "--budget") }
        let ttl = try arguments.value("--ttl").map { text throws(UsageError) in try ValueParsers.durationSeconds(text, "--ttl") }
        guard home.isInitialized else { throw CommandFailure("\(home.root) is not initialized; run 'aex init' first") }
        guard let state = DaemonState.read(from: home.daemonStatePath), state.isDaemon(of: home) else {
            throw CommandFailure("the daemon is not running; start it with 'aex daemon start'")
        }
        let client = try AdminClient(home: home, state: state)
        // Before the run exists: a signal from now on reaches the child (at once if it came early).
        ChildProcess.forwardSignals()
        let started = try client.json("POST", "/admin/runs", .object([
            "agent": .string(agent), "command": .array(arguments.trailing.map { .string($0) }),
            "supervisor_pid": .int(Int64(getpid())), "budget_micro": .optional(cap?.value), "ttl_seconds": .optional(ttl),
            "kill_on_exhaust": .bool(arguments.flag("--kill-on-exhaust")),
        ]))
        guard case .object(let answer) = started, case .string(let runID)? = answer["run_id"], case .string(let token)? = answer["token"] else {
            throw CommandFailure("the daemon sent an unreadable answer")
        }
        let environment = childEnvironment(ProcessInfo.processInfo.environment, home: home, baseURL: baseURL(state), token: token,
                                           agent: agent, runID: runID)
        let pid: Int32
        do {
            pid = try ChildProcess.spawn(arguments.trailing, environment: environment, umask: AEXCommandLine.userUmask)
        } catch {
            Console.err("aex: \(error)")
            report(runID, ChildProcess.Exit(code: error.status, signal: nil), home: home, client: client)
            return error.status
        }
        do {
            _ = try client.request("POST", "/admin/runs/\(runID)/process", .object(["pid": .int(Int64(pid))]))
        } catch {
            Console.err("aex: warning: the daemon did not record the run's process: \(error)")
        }
        let exit = ChildProcess.wait(pid)
        report(runID, exit, home: home, client: client)
        return exit.status
    }

    /// Tells the daemon the run ended (its token is revoked then); with no daemon, records it here.
    private static func report(_ runID: String, _ exit: ChildProcess.Exit, home: AEXHome, client: AdminClient) {
        let body: JSONValue = .object(["exit_code": .optional(exit.code.map(Int64.init)), "signal": .optional(exit.signal.map(Int64.init))])
        do {
            _ = try client.request("POST", "/admin/runs/\(runID)/end", body)
            return
        } catch {}
        do {
            switch try WriterAccess.open(home) {
            case .daemon(let current):
                _ = try current.request("POST", "/admin/runs/\(runID)/end", body)
            case .local(let lock):
                defer { lock.release() }
                let ending = RunRecords.Ending(exitCode: exit.code, signal: exit.signal, reason: RunRecords.Ending.exited)
                _ = try WriterAccess.withLocalWriter(home) { writer in try LocalRuns.end(runID, ending, writer: writer) }
            }
        } catch {
            Console.err("aex: warning: the end of run \(runID) is not recorded (the daemon will end it at its next start): \(error)")
        }
    }

    // MARK: aex ps

    private static func list(_ arguments: ParsedArguments, _ home: AEXHome) throws -> Int32 {
        let runs: [JSONValue]
        switch try WriterAccess.open(home) {
        case .daemon(let client):
            guard case .array(let items) = try client.json("GET", "/admin/runs") else { throw CommandFailure("the daemon sent an unreadable answer") }
            runs = items
        case .local(let lock):
            defer { lock.release() }
            runs = try WriterAccess.withLocalWriter(home) { writer in try LocalRuns.list(writer: writer).map(\.json) }
        }
        if arguments.flag("--json") {
            Console.out(JSONValue.array(runs).canonicalText)
            return 0
        }
        guard !runs.isEmpty else {
            Console.out("no supervised processes")
            return 0
        }
        let rows = runs.compactMap { item -> [String]? in
            guard case .object(let run) = item else { return nil }
            return [text(run["run_id"]), text(run["agent"]), text(run["pid"]), text(run["pgid"]), text(run["state"]),
                    money(run["spent_micro"]), money(run["budget_micro"]), text(run["started_at"]), text(run["expires_at"]),
                    text(run["command"])]
        }
        Console.out(Console.table(["RUN", "AGENT", "PID", "PGID", "STATE", "SPENT", "BUDGET", "STARTED", "EXPIRES", "COMMAND"], rows))
        return 0
    }

    private static func text(_ value: JSONValue?) -> String {
        switch value {
        case .string(let text)?: return text
        case .int(let number)?: return String(number)
        case .bool(let flag)?: return flag ? "yes" : "no"
        default: return "-"
        }
    }

    private static func money(_ value: JSONValue?) -> String {
        guard case .int(let micro)? = value else { return "-" }
        return "$" + MicroUSD(micro).description
    }

    // MARK: aex kill

    private static func terminate(_ arguments: ParsedArguments, _ home: AEXHome) throws -> Int32 {
        let target = arguments.positionals[0]
        let killed: [String]
        switch try WriterAccess.open(home) {
        case .daemon(let client):
            guard case .object(let answer) = try client.json("POST", "/admin/runs/kill", .object(["target": .string(target)])),
                  case .array(let ids)? = answer["killed"] else { throw CommandFailure("the daemon sent an unreadable answer") }
            killed = ids.compactMap { if case .string(let id) = $0 { id } else { nil } }
        case .local(let lock):
            defer { lock.release() }
            let grace = try Settings.from(environment: ProcessInfo.processInfo.environment).runKillGraceSeconds
            killed = try WriterAccess.withLocalWriter(home) { writer in
                try LocalRuns.terminate(target.hasPrefix("run_") ? .run(target) : .agent(name: target), reason: .killed,
                                        writer: writer, graceSeconds: grace)
            }
            guard !killed.isEmpty else { throw CommandFailure("'\(target)' has no supervised process running") }
        }
        if arguments.flag("--json") {
            Console.out(JSONValue.object(["killed": .array(killed.map { .string($0) })]).canonicalText)
        } else {
            for id in killed { Console.out("terminated \(id)") }
        }
        return 0
    }
}
