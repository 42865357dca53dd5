/// The database side of a governed call, run on the store writer inside its transaction: the
/// reservation before dispatch, the settlement after, denials. Each writes the `executions` and
/// `reservations` rows, moves the agent's counters and appends its ledger event together, so the
/// database never shows one without the others.
///
/// A reservation is written as dispatched: the call goes upstream right after this commit, so a
/// crash in between can only over-charge (recovery charges dispatched reservations), never lose spend.
public enum ExecutionLedger {
    public struct Reservation: Sendable {
        public var executionID: String
        public var agentID: Int64
        public var agentName: String
        public var endpoint: String
        public var model: String
        public var amount: MicroUSD
        public var promptTokensBound: Int64
        public var completionTokensBound: Int64
    }

    public enum Outcome: Sendable {
        /// The provider answered with usage (or the reserved bound when `estimated`).
        /// `reason`: why a call ended early (client gone, stream cut), recorded with the commit.
        case committed(cost: MicroUSD, promptTokens: Int64?, completionTokens: Int64?, estimated: Bool, status: Int,
                       reason: String? = nil)
        /// Nothing is owed: provider error, unreachable, timeout, or a failure before dispatch.
        case released(reason: String, status: Int)
    }

    public static func reserve(_ r: Reservation, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        try db.run(
            """
            INSERT INTO executions (id, agent_id, endpoint, model, state, reserved_micro, created_at)
            VALUES (?, ?, ?, ?, 'DISPATCHED', ?, ?)
            """,
            [.text(r.executionID), .integer(r.agentID), .text(r.endpoint), .text(r.model), .integer(r.amount.value), .integer(nowMicros)])
        try db.run(
            "INSERT INTO reservations (execution_id, agent_id, amount_micro, state, dispatched, created_at) VALUES (?, ?, ?, 'open', 1, ?)",
            [.text(r.executionID), .integer(r.agentID), .integer(r.amount.value), .integer(nowMicros)])
        try db.run("UPDATE agents SET reserved_micro = reserved_micro + ? WHERE id = ?", [.integer(r.amount.value), .integer(r.agentID)])
        try EventLog.append(
            LedgerEvent(
                type: .reservation, agentID: r.agentID, agentName: r.agentName, executionID: r.executionID,
                payload: .object([
                    "amount_micro": .int(r.amount.value), "endpoint": .string(r.endpoint), "model": .string(r.model),
                    "prompt_tokens_bound": .int(r.promptTokensBound), "completion_tokens_bound": .int(r.completionTokensBound),
                ])),
            to: db, nowMicros: nowMicros)
    }

    /// Commits or releases an open reservation. Compare-and-set on the reservation's state: a
    /// second settlement of the same execution changes nothing and throws.
    public static func settle(_ r: Reservation, _ outcome: Outcome, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        try db.run(
            "UPDATE reservations SET state = ?, settled_at = ? WHERE execution_id = ? AND state = 'open'",
            [.text(outcome.reservationState), .integer(nowMicros), .text(r.executionID)])
        guard db.changes == 1 else { throw SQLiteError(code: 0, message: "reservation \(r.executionID) is not open") }
        switch outcome {
        case .committed(let cost, let prompt, let completion, let estimated, let status, let reason):
            try db.run(
                """
                UPDATE executions SET state = 'COMMITTED', cost_micro = ?, prompt_tokens = ?, completion_tokens = ?,
                    estimated = ?, status = ?, settled_at = ? WHERE id = ?
                """,
                [.integer(cost.value), .optional(prompt), .optional(completion), .bool(estimated), .integer(Int64(status)),
                 .integer(nowMicros), .text(r.executionID)])
            try db.run(
                "UPDATE agents SET spent_micro = spent_micro + ?, reserved_micro = reserved_micro - ? WHERE id = ?",
                [.integer(cost.value), .integer(r.amount.value), .integer(r.agentID)])
            try EventLog.append(
                LedgerEvent(
                    type: .commit, agentID: r.agentID, agentName: r.agentName, executionID: r.executionID,
                    payload: .object([
                        "cost_micro": .int(cost.value), "reserved_micro": .int(r.amount.value),
                        "released_micro": .int(max(0, r.amount.value - cost.value)),
                        "overdraft_micro": .int(max(0, cost.value - r.amount.value)),
                        "prompt_tokens": .optional(prompt), "completion_tokens": .optional(completion),
                        "estimated": .bool(estimated), "reason": .optional(reason),
                    ])),
                to: db, nowMicros: nowMicros)
        case .released(let reason, let status):
            try db.run(
                "UPDATE executions SET state = 'FAILED', status = ?, settled_at = ? WHERE id = ?",
                [.integer(Int64(status)), .integer(nowMicros), .text(r.executionID)])
            try db.run(
                "UPDATE agents SET reserved_micro = reserved_micro - ? WHERE id = ?", [.integer(r.amount.value), .integer(r.agentID)])
            try EventLog.append(
                LedgerEvent(
                    type: .release, agentID: r.agentID, agentName: r.agentName, executionID: r.executionID,
                    payload: .object(["released_micro": .int(r.amount.value), "reason": .string(reason), "status": .int(Int64(status))])),
                to: db, nowMicros: nowMicros)
        }
    }

    /// A refused request: an execution row in state DENIED (when the agent is known) and the event.
    public static func deny(
        executionID: String, agentID: Int64?, agentName: String?, endpoint: String, status: Int, code: String, reason: String,
        _ db: SQLiteDatabase, nowMicros: Int64
    ) throws {
        if let agentID {
            try db.run(
                "INSERT INTO executions (id, agent_id, endpoint, state, status, created_at, settled_at) VALUES (?, ?, ?, 'DENIED', ?, ?, ?)",
                [.text(executionID), .integer(agentID), .text(endpoint), .integer(Int64(status)), .integer(nowMicros), .integer(nowMicros)])
        }
        let type: LedgerEventType = switch code {
        case "rate_limit_exceeded": .rateLimited
        case "policy_violation": .policyRefusal
        default: .denial
        }
        try EventLog.append(
            LedgerEvent(
                type: type, agentID: agentID, agentName: agentName, executionID: agentID == nil ? nil : executionID,
                payload: .object(["code": .string(code), "status": .int(Int64(status)), "reason": .string(reason), "endpoint": .string(endpoint)])),
            to: db, nowMicros: nowMicros)
    }
}

extension ExecutionLedger {
    /// At start, before serving: resolves every reservation a dead process left open (SPEC §7).
    /// Dispatched → charged at the reserved amount (the provider may have billed), marked
    /// recovered; never dispatched → released. Each with a `recovery` event. Returns how many.
    @discardableResult
    public static func recoverOpenReservations(_ db: SQLiteDatabase, nowMicros: Int64) throws -> Int {
        let open = try db.query(
            """
            SELECT r.execution_id, r.agent_id, r.amount_micro, r.dispatched, a.name
            FROM reservations r JOIN agents a ON a.id = r.agent_id WHERE r.state = 'open' ORDER BY r.created_at
            """) { ($0.text(0), $0.int64(1), $0.int64(2), $0.bool(3), $0.text(4)) }
        for (executionID, agentID, amount, dispatched, name) in open {
            try db.run("UPDATE reservations SET state = ?, settled_at = ? WHERE execution_id = ?",
                       [.text(dispatched ? "recovered" : "released"), .integer(nowMicros), .text(executionID)])
            if dispatched {
                try db.run(
                    "UPDATE executions SET state = 'COMMITTED', cost_micro = ?, estimated = 1, settled_at = ? WHERE id = ?",
                    [.integer(amount), .integer(nowMicros), .text(executionID)])
                try db.run("UPDATE agents SET spent_micro = spent_micro + ?, reserved_micro = reserved_micro - ? WHERE id = ?",
                           [.integer(amount), .integer(amount), .integer(agentID)])
            } else {
                try db.run("UPDATE executions SET state = 'RELEASED', settled_at = ? WHERE id = ?", [.integer(nowMicros), .text(executionID)])
                try db.run("UPDATE agents SET reserved_micro = reserved_micro - ? WHERE id = ?", [.integer(amount), .integer(agentID)])
            }
            try EventLog.append(
                LedgerEvent(type: .recovery, agentID: agentID, agentName: name, executionID: executionID, payload: .object([
                    "decision": .string(dispatched ? "charged" : "released"), "amount_micro": .int(amount),
                    "reason": .string("reservation left open by a process that stopped"),
                ])),
                to: db, nowMicros: nowMicros)
        }
        return open.count
    }
}

extension ExecutionLedger.Outcome {
    var reservationState: String {
        switch self {
        case .committed: return "committed"
        case .released: return "released"
        }
    }
}
