import Dispatch

/// `GET /admin/status` (admin token): what the dashboard shows at a glance — every agent's money,
/// rate use, burn rate and projected exhaustion, the calls in flight, open connections, the ledger
/// head and the tools. Built off the loops (the ledger head is read on a read-only connection).
struct StatusAPI: Sendable {
    let metrics: MetricsAPI.Sources
    private let queue = DispatchQueue(label: "aex.status")

    init(_ metrics: MetricsAPI.Sources) {
        self.metrics = metrics
    }

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        guard request.method == "GET" else { return responder.respond(.error(405, code: "method_not_allowed", message: "use GET")) }
        queue.async { responder.respond(.json(200, status())) }
    }

    func status() -> JSONValue {
        let statuses = metrics.registry.statuses(nowMillis: WallClock.monotonicMillis())
        var head: JSONValue = .null
        if let db = try? SQLiteDatabase(path: metrics.databasePath, readOnly: true), let found = try? LedgerEntries.head(db) {
            head = .object(["seq": .int(found.seq), "hash": .string(found.hash)])
        }
        return .object([
            "version": .string(AEXVersion.current),
            "in_flight_calls": .int(Int64(metrics.proxy.callsInFlight)),
            "open_connections": .int(Int64(metrics.openConnections())),
            "runs_active": .int(Int64(metrics.runsActive())),
            "ledger_head": head,
            "agents": .array(statuses.map { status in
                let agent = status.agent
                return .object([
                    "name": .string(agent.name), "state": .string(agent.state.rawValue), "budget_micro": .int(agent.budget.value),
                    "spent_micro": .int(agent.spent.value), "reserved_micro": .int(agent.reserved.value),
                    "remaining_micro": .int(agent.remaining.value), "rpm": .int(agent.rpm),
                    "requests_last_minute": .int(Int64(status.requestsLastMinute)),
                    "burn_rate_micro_per_hour": .int(status.spentLastHourMicro),
                    "budget_exhaustion_seconds": status.budgetExhaustionSeconds.map { .int(Int64($0.rounded(.down))) } ?? .null,
                ])
            }),
            "tools": .array(metrics.proxy.toolsOverview().map { tool in
                .object(["name": .string(tool.name), "plugin": .string(tool.plugin), "price_micro": .int(tool.priceMicro),
                         "enabled": .bool(tool.enabled)])
            }),
        ])
    }
}
