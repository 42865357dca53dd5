import Foundation

/// `aex metrics [--json]`: the daemon's `/metrics` figures (SPEC §14) for a person — each agent's
/// money, rate use and burn rate, then the totals — or, with `--json`, every sample for a script.
enum MetricsCLI {
    static let metrics = CommandSpec(["metrics"], summary: "Show the running daemon's metrics (the figures of GET /metrics).",
                                     options: [AgentCLI.json])
    static let all = [metrics]

    static func run(_ spec: CommandSpec, _ arguments: ParsedArguments, _ home: AEXHome) throws -> Int32 {
        guard home.isInitialized else { throw CommandFailure("\(home.root) is not initialized; run 'aex init' first") }
        guard let state = DaemonState.read(from: home.daemonStatePath), state.isDaemon(of: home) else {
            throw CommandFailure("the daemon is not running; metrics are the running daemon's (start it with 'aex daemon start')")
        }
        let text = String(decoding: try AdminClient(home: home, state: state).request("GET", "/metrics"), as: UTF8.self)
        let samples = PrometheusSample.parse(text)
        if arguments.flag("--json") {
            Console.out(JSONValue.array(samples.map { sample in
                .object(["name": .string(sample.name), "labels": .object(sample.labels.mapValues { .string($0) }), "value": number(sample.value)])
            }).canonicalText)
            return 0
        }
        Console.out(summary(samples))
        return 0
    }

    private static func number(_ value: Double) -> JSONValue {
        if value.isFinite, value == value.rounded(), abs(value) < 9e15 { return .int(Int64(value)) }
        return value.isFinite ? .number(String(value)) : .null  // Swift writes a valid JSON number: 0.25, 1.5e-05
    }

    /// The figures laid out for a person.
    static func summary(_ samples: [PrometheusSample]) -> String {
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
            samples.first { $0.name == name && $0.labels == labels }?.value ?? 0
        }
        func total(_ name: String, where match: ([String: String]) -> Bool = { _ in true }) -> Double {
            samples.filter { $0.name == name && match($0.labels) }.reduce(0) { $0 + $1.value }
        }
        func usd(_ micro: Double) -> String { "$" + MicroUSD(Int64(micro)).description }
        let agents = samples.filter { $0.name == "aex_agent_budget_micro_usd" }.compactMap { $0.labels["agent"] }
        let rows = agents.map { agent -> [String] in
            let labels = ["agent": agent]
            let exhaustion = value("aex_agent_budget_exhaustion_seconds", labels)
            return [agent, usd(value("aex_agent_spent_micro_usd", labels)), usd(value("aex_agent_budget_remaining_micro_usd", labels)),
                    usd(value("aex_agent_budget_reserved_micro_usd", labels)),
                    "\(Int(value("aex_agent_requests_last_minute", labels)))/\(Int(value("aex_agent_rpm", labels)))",
                    usd(value("aex_agent_burn_rate_micro_usd_per_hour", labels)) + "/h", duration(exhaustion)]
        }
        var lines = [Console.table(["AGENT", "SPENT", "REMAINING", "RESERVED", "REQ/MIN", "BURN", "EXHAUSTED IN"], rows), ""]
        let byClass = ["2xx", "4xx", "5xx"].map { status in "\(status) \(Int(total("aex_requests_total") { $0["status"] == status }))" }
        lines.append("calls settled: \(Int(total("aex_requests_total"))) (\(byClass.joined(separator: ", "))); spend \(usd(total("aex_spend_micro_usd_total")))")
        lines.append("tokens: \(Int(total("aex_tokens_total") { $0["kind"] == "prompt" })) prompt, \(Int(total("aex_tokens_total") { $0["kind"] == "completion" })) completion")
        lines.append("denials: \(Int(total("aex_denials_total"))) (rate limited \(Int(total("aex_rate_limited_total")))); tool calls: \(Int(total("aex_tool_calls_total")))")
        lines.append("in flight: \(Int(value("aex_in_flight_calls"))); open connections: \(Int(value("aex_open_connections"))); runs: \(Int(value("aex_runs_active")))")
        let commits = value("aex_ledger_commit_duration_seconds_count")
        let meanCommit = commits > 0 ? value("aex_ledger_commit_duration_seconds_sum") / commits * 1_000 : 0
        lines.append("ledger: \(Int(value("aex_ledger_events_total"))) events, \(Int(commits)) commits (mean \(String(format: "%.3f", meanCommit)) ms)")
        lines.append("process: \(Int(value("process_resident_memory_bytes") / 1_048_576)) MiB resident, \(String(format: "%.2f", value("process_cpu_seconds_total"))) s CPU, \(Int(value("process_open_fds"))) open files")
        return lines.joined(separator: "\n")
    }

    /// `3d 4h`, `12m`, `never`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "never" }
        let whole = Int64(max(0, seconds))
        if whole >= 86_400 { return "\(whole / 86_400)d \(whole % 86_400 / 3_600)h" }
        if whole >= 3_600 { return "\(whole / 3_600)h \(whole % 3_600 / 60)m" }
        if whole >= 60 { return "\(whole / 60)m" }
        return "\(whole)s"
    }
}
