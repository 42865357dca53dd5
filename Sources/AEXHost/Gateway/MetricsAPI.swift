import Dispatch
import Foundation
import Synchronization

/// `GET /metrics` (admin token): the Prometheus text format 0.0.4 (SPEC §14). Built off the loops,
/// on a queue of its own, from counters kept where the work happens (the proxy's per-loop shards,
/// the registry, the store writer) and merged here; the ledger head is read on a read-only
/// connection. One scrape at a time; more wait their turn, at most `scrapesWaitingMax`.
final class MetricsAPI: Sendable {
    static let scrapesWaitingMax = 4
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// What the scrape reads, given by the composition root.
    struct Sources: Sendable {
        let proxy: ProxyAPI
        let registry: AgentRegistry
        let writer: StoreWriter
        let databasePath: String
        let openConnections: @Sendable () -> Int
        let runsActive: @Sendable () -> Int
        let startedAtMicros: Int64
    }

    private let sources: Sources
    private let queue = DispatchQueue(label: "aex.metrics")
    private let admitted = Atomic<Int>(0)

    init(_ sources: Sources) {
        self.sources = sources
    }

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        guard request.method == "GET" else { return responder.respond(.error(405, code: "method_not_allowed", message: "use GET")) }
        guard admitted.add(1, ordering: .relaxed).newValue <= 1 + Self.scrapesWaitingMax else {
            admitted.subtract(1, ordering: .relaxed)
            return responder.respond(.error(503, code: "overloaded", message: "too many scrapes waiting; retry later", headers: [("retry-after", "1")]))
        }
        queue.async { [self] in
            defer { admitted.subtract(1, ordering: .relaxed) }
            responder.respond(HTTPResponse(status: 200, headers: [("content-type", Self.contentType)], body: Array(render().utf8)))
        }
    }

    /// The whole exposition.
    func render() -> String {
        var out = PrometheusText()
        let counts = sources.proxy.metrics.snapshot()
        let calls = counts.calls.sorted { ($0.key.agent, $0.key.model, $0.key.endpoint, $0.key.statusClass) < ($1.key.agent, $1.key.model, $1.key.endpoint, $1.key.statusClass) }

        out.family("aex_requests_total", .counter, "Governed calls settled, by agent, model, endpoint and status class.")
        for (key, tally) in calls {
            out.sample("aex_requests_total", [("agent", key.agent), ("model", key.model), ("endpoint", key.endpoint), ("status", key.statusClass)], tally.requests)
        }
        var byAgentModel: [String: [String: CallMetrics.CallTally]] = [:]
        for (key, tally) in calls {
            var sum = byAgentModel[key.agent]?[key.model] ?? CallMetrics.CallTally()
            sum.promptTokens &+= tally.promptTokens
            sum.completionTokens &+= tally.completionTokens
            sum.spendMicro &+= tally.spendMicro
            byAgentModel[key.agent, default: [:]][key.model] = sum
        }
        let agentModels = byAgentModel.sorted { $0.key < $1.key }.flatMap { agent, models in models.sorted { $0.key < $1.key }.map { (agent, $0.key, $0.value) } }
        out.family("aex_tokens_total", .counter, "Tokens charged, by agent, model and kind (prompt or completion).")
        for (agent, model, tally) in agentModels {
            out.sample("aex_tokens_total", [("agent", agent), ("model", model), ("kind", "prompt")], tally.promptTokens)
            out.sample("aex_tokens_total", [("agent", agent), ("model", model), ("kind", "completion")], tally.completionTokens)
        }
        out.family("aex_spend_micro_usd_total", .counter, "Money charged for calls, in micro-USD, by agent and model.")
        for (agent, model, tally) in agentModels {
            out.sample("aex_spend_micro_usd_total", [("agent", agent), ("model", model)], tally.spendMicro)
        }

        out.family("aex_request_duration_seconds", .histogram, "From admission to settlement of a governed call, by endpoint.")
        for (endpoint, histogram) in counts.requestDuration.sorted(by: { $0.key < $1.key }) {
            out.histogram("aex_request_duration_seconds", [("endpoint", endpoint)], histogram)
        }
        out.family("aex_upstream_duration_seconds", .histogram, "From dispatch to the provider (or tool worker) to settlement, by endpoint.")
        for (endpoint, histogram) in counts.upstreamDuration.sorted(by: { $0.key < $1.key }) {
            out.histogram("aex_upstream_duration_seconds", [("endpoint", endpoint)], histogram)
        }

        let denials = counts.denials.sorted { ($0.key.agent, $0.key.reason) < ($1.key.agent, $1.key.reason) }
        out.family("aex_denials_total", .counter, "Requests refused, by agent (empty for a refused credential) and reason (the error code).")
        for (key, count) in denials { out.sample("aex_denials_total", [("agent", key.agent), ("reason", key.reason)], count) }
        out.family("aex_rate_limited_total", .counter, "Requests refused by a rate limit (RPM or TPM), by agent.")
        for (key, count) in denials where key.reason == "rate_limit_exceeded" { out.sample("aex_rate_limited_total", [("agent", key.agent)], count) }

        out.family("aex_tool_calls_total", .counter, "Tool calls settled, by tool and outcome (ok, failed, timeout).")
        for (key, count) in counts.tools.sorted(by: { ($0.key.tool, $0.key.outcome) < ($1.key.tool, $1.key.outcome) }) {
            out.sample("aex_tool_calls_total", [("tool", key.tool), ("outcome", key.outcome)], count)
        }

        agentGauges(&out)

        out.family("aex_in_flight_calls", .gauge, "Governed calls admitted and not yet settled.")
        out.sample("aex_in_flight_calls", Int64(sources.proxy.callsInFlight))
        out.family("aex_open_connections", .gauge, "Open client connections.")
        out.sample("aex_open_connections", Int64(sources.openConnections()))
        out.family("aex_runs_active", .gauge, "Runs of 'aex run' not ended.")
        out.sample("aex_runs_active", Int64(sources.runsActive()))

        out.family("aex_ledger_events_total", .counter, "Events appended to the ledger (its head sequence number).")
        out.sample("aex_ledger_events_total", ledgerHeadSeq())
        out.family("aex_ledger_commits_total", .counter, "Transactions committed by the store writer.")
        out.sample("aex_ledger_commits_total", Int64(sources.writer.batchesCommitted))
        out.family("aex_ledger_commit_duration_seconds", .histogram, "Duration of each durable COMMIT of the store writer.")
        out.histogram("aex_ledger_commit_duration_seconds", [], sources.writer.commitDurations)

        let process = ProcessStats.read()
        out.family("process_resident_memory_bytes", .gauge, "Resident memory size in bytes.")
        out.sample("process_resident_memory_bytes", process.residentMemoryBytes)
        out.family("process_cpu_seconds_total", .counter, "User and system CPU time spent in seconds.")
        out.sample("process_cpu_seconds_total", process.cpuSeconds)
        out.family("process_open_fds", .gauge, "Number of open file descriptors.")
        out.sample("process_open_fds", process.openFileDescriptors)
        out.family("process_start_time_seconds", .gauge, "Start time of the process since the Unix epoch in seconds.")
        out.sample("process_start_time_seconds", Double(sources.startedAtMicros / 1_000) / 1_000)
        return out.text
    }

    private func agentGauges(_ out: inout PrometheusText) {
        let statuses = sources.registry.statuses(nowMillis: WallClock.monotonicMillis())
        let families: [(String, String, (AgentRegistry.Status) -> Double)] = [
            ("aex_agent_budget_micro_usd", "The agent's budget in micro-USD.", { Double($0.agent.budget.value) }),
            ("aex_agent_spent_micro_usd", "What the agent has spent, in micro-USD.", { Double($0.agent.spent.value) }),
            ("aex_agent_budget_reserved_micro_usd", "Reserved for the agent's calls in flight, in micro-USD.", { Double($0.agent.reserved.value) }),
            ("aex_agent_budget_remaining_micro_usd", "Budget − spent − reserved, in micro-USD.", { Double($0.agent.remaining.value) }),
            ("aex_agent_requests_last_minute", "Requests admitted in the last 60 seconds (compare with the agent's rpm).", { Double($0.requestsLastMinute) }),
            ("aex_agent_rpm", "The agent's requests-per-minute limit.", { Double($0.agent.rpm) }),
            ("aex_agent_burn_rate_micro_usd_per_hour", "What the agent spent in the last hour, in micro-USD.", { Double($0.spentLastHourMicro) }),
            ("aex_agent_budget_exhaustion_seconds", "Seconds until the remaining budget is spent at the last hour's rate (+Inf when nothing is spent).",
             { $0.budgetExhaustionSeconds ?? .infinity }),
        ]
        for (name, help, value) in families {
            out.family(name, .gauge, help)
            for status in statuses { out.sample(name, [("agent", status.agent.name)], value(status)) }
        }
    }

    private func ledgerHeadSeq() -> Int64 {
        guard let db = try? SQLiteDatabase(path: sources.databasePath, readOnly: true), let head = try? LedgerEntries.head(db) else { return 0 }
        return head.seq
    }
}
