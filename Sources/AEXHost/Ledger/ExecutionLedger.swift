/// The database side of a governed call, run on the store writer inside its transaction: the
/// reservation before dispatch, the settlement after, denials. Each writes its `executions` row,
/// moves the agent's counters (through `AgentCounterChanges`, applied at commit) and appends its
/// ledger event together, so the database never shows one without the others.
///
/// An open reservation is an `executions` row in state `RESERVED` or `DISPATCHED` (the
/// `reservations` view). It is written as dispatched: the call goes upstream right after this
/// commit, so a crash in between can only over-charge (recovery charges dispatched reservations),
/// never lose spend.
///
/// Payloads are built by the caller (`reservationPayload`, `settlementPayload`), off the writer's
/// thread; the writer only binds, hashes and inserts.
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
        /// The `aex run` whose token made the call (SPEC §12); nil for the agent's own token.
        public var runID: String?

        public init(executionID: String, agentID: Int64, agentName: String, endpoint: String, model: String, amount: MicroUSD,
                    promptTokensBound: Int64, completionTokensBound: Int64, runID: String? = nil) {
            self.runID = runID
            self.executionID = executionID
            self.agentID = agentID
            self.agentName = agentName
            self.endpoint = endpoint
            self.model = model
            self.amount = amount
            self.promptTokensBound = promptTokensBound
            self.completionTokensBound = completionTokensBound
        }
    }

    /// A provider's usage report that could not be true (see `UsageCharge`): recorded with the
    /// commit, beside what was charged.
    public struct ProviderFault: Sendable, Equatable {
        public enum Kind: String, Sendable {
            case negativeCount = "reported a negative token count"
            case aboveAllowed = "reported usage above what the request allowed"
        }

        public var kind: Kind
        public var reportedPromptTokens: Int64
        public var reportedCompletionTokens: Int64

        /// What the ledger and the log say.
        public var reason: String { kind.rawValue }
    }

    public enum Outcome: Sendable {
        /// The provider answered with usage (or the reserved bound when `estimated`).
        /// `reason`: why a call ended early (client gone, stream cut), recorded with the commit.
        /// `fault`: the provider reported impossible usage; `cost` is what was charged for it.
        case committed(cost: MicroUSD, promptTokens: Int64?, completionTokens: Int64?, estimated: Bool, status: Int,
                       reason: String? = nil, fault: ProviderFault? = nil)
        /// Nothing is owed: provider error, unreachable, timeout, or a failure before dispatch.
        case released(reason: String, status: Int)
    }

    /// A settlement of an execution that is not open (already settled, or unknown): nothing changed.
    public struct ReservationNotOpen: Error, CustomStringConvertible {
        public let executionID: String
        public var description: String { "reservation \(executionID) is not open" }
    }

    /// The reservation event's canonical payload.
    public static func reservationPayload(_ r: Reservation) -> [UInt8] {
        MoneyEventPayload.reservation(.init(
            amount: r.amount, completionTokensBound: r.completionTokensBound, endpoint: r.endpoint, model: r.model,
            promptTokensBound: r.promptTokensBound, runID: r.runID)).encoded()
    }

    /// The commit or release event's canonical payload; a commit whose answer is stored for an
    /// `Idempotency-Key` records the answer's SHA-256.
    public static func settlementPayload(_ r: Reservation, _ outcome: Outcome, responseSHA256: String? = nil) -> [UInt8] {
        switch outcome {
        case .committed(let cost, let prompt, let completion, let estimated, _, let reason, let fault):
            MoneyEventPayload.commit(.init(completionTokens: completion, cost: cost, estimated: estimated, promptTokens: prompt,
                                           fault: fault, reason: reason, reserved: r.amount, responseSHA256: responseSHA256)).encoded()
        case .released(let reason, let status):
            MoneyEventPayload.release(.init(reason: reason, released: r.amount, status: Int64(status))).encoded()
        }
    }

    public static func reserve(_ r: Reservation, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        try reserve(r, payload: reservationPayload(r), db, nowMicros: nowMicros)
    }

    public static func reserve(_ r: Reservation, payload: [UInt8], _ db: SQLiteDatabase, nowMicros: Int64) throws {
        assert(r.amount.value >= 0 && r.promptTokensBound >= 0 && r.completionTokensBound >= 0, "a reservation with negative bounds")
        let insert = try db.statement(
            """
            INSERT INTO executions (id, agent_id, endpoint, model, state, reserved_micro, created_at)
            VALUES (?, ?, ?, ?, 'DISPATCHED', ?, ?)
            """)
        try insert.bind(1, r.executionID)
        try insert.bind(2, r.agentID)
        try insert.bind(3, r.endpoint)
        try insert.bind(4, r.model)
        try insert.bind(5, r.amount.value)
        try insert.bind(6, nowMicros)
        try insert.runToCompletion()
        if let runID = r.runID {
            let named = try db.statement("INSERT INTO run_executions (run_id, execution_id) VALUES (?, ?)")
            try named.bind(1, runID)
            try named.bind(2, r.executionID)
            try named.runToCompletion()
        }
        try EventLog.append(
            LedgerEvent(type: .reservation, agentID: r.agentID, agentName: r.agentName, executionID: r.executionID, payloadText: payload),
            to: db, nowMicros: nowMicros)
        db.ledgerState.counterChanges.add(agentID: r.agentID, .reservation(r.amount))
    }

    /// Commits or releases an open reservation. Compare-and-set on the execution's state: a second
    /// settlement of the same execution changes nothing and throws.
    public static func settle(_ r: Reservation, _ outcome: Outcome, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        try settle(r, outcome, payload: settlementPayload(r, outcome), db, nowMicros: nowMicros)
    }

    public static func settle(_ r: Reservation, _ outcome: Outcome, payload: [UInt8], _ db: SQLiteDatabase, nowMicros: Int64) throws {
        if case .committed(let cost, _, _, _, _, _, _) = outcome { assert(cost.value >= 0, "a negative cost") }
        let type: LedgerEventType
        switch outcome {
        case .committed(let cost, let prompt, let completion, let estimated, let status, _, _):
            let update = try db.statement(
                """
                UPDATE executions SET state = 'COMMITTED', cost_micro = ?, prompt_tokens = ?, completion_tokens = ?,
                    estimated = ?, status = ?, settled_at = ? WHERE id = ? AND state = 'DISPATCHED'
                """)
            try update.bind(1, cost.value)
            try update.bind(2, prompt)
            try update.bind(3, completion)
            try update.bind(4, estimated ? 1 : 0)
            try update.bind(5, Int64(status))
            try update.bind(6, nowMicros)
            try update.bind(7, r.executionID)
            try update.runToCompletion()
            type = .commit
        case .released(_, let status):
            let update = try db.statement(
                "UPDATE executions SET state = 'FAILED', status = ?, settled_at = ? WHERE id = ? AND state = 'DISPATCHED'")
            try update.bind(1, Int64(status))
            try update.bind(2, nowMicros)
            try update.bind(3, r.executionID)
            try update.runToCompletion()
            type = .release
        }
        guard db.changes == 1 else { throw ReservationNotOpen(executionID: r.executionID) }
        try EventLog.append(
            LedgerEvent(type: type, agentID: r.agentID, agentName: r.agentName, executionID: r.executionID, payloadText: payload),
            to: db, nowMicros: nowMicros)
        let cost: MicroUSD = if case .committed(let cost, _, _, _, _, _, _) = outcome { cost } else { .zero }
        db.ledgerState.counterChanges.add(agentID: r.agentID, .settlement(reserved: r.amount, cost: cost))
    }

    /// The largest execution id of the `exec_` form (hex digits sort like their numbers).
    static func lastExecutionID(_ db: SQLiteDatabase) throws -> String? {
        try db.query(
            """
            SELECT id FROM executions WHERE id >= 'exec_00000000000000' AND id <= 'exec_ffffffffffffff' AND length(id) = 19
            ORDER BY id DESC LIMIT 1
            """) { $0.text(0) }.first
    }

    /// A denial's reason is kept to this many bytes (it may quote what the client sent).
    public static let denialReasonBytesMax = 256

    /// A refused request: an execution row in state DENIED (when the agent is known) and the event.
    /// `unrecordedBefore`: refusals of unknown clients counted but not recorded before this one.
    public static func deny(
        executionID: String, agentID: Int64?, agentName: String?, endpoint: String, status: Int, code: String, reason: String,
        unrecordedBefore: Int64? = nil, _ db: SQLiteDatabase, nowMicros: Int64
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
        var payload: [String: JSONValue] = [
            "code": .string(code), "status": .int(Int64(status)), "reason": .string(truncated(reason, bytesMax: denialReasonBytesMax)),
            "endpoint": .string(endpoint),
        ]
        if let unrecordedBefore, unrecordedBefore > 0 { payload["unrecorded_before"] = .int(unrecordedBefore) }
        try EventLog.append(
            LedgerEvent(type: type, agentID: agentID, agentName: agentName, executionID: agentID == nil ? nil : executionID,
                        payload: .object(payload)),
            to: db, nowMicros: nowMicros)
    }

    /// `text` cut to at most `bytesMax` UTF-8 bytes, at a character boundary, marked with "…".
    static func truncated(_ text: String, bytesMax: Int) -> String {
        guard text.utf8.count > bytesMax else { return text }
        var result = ""
        for character in text {
            guard result.utf8.count + character.utf8.count + 3 <= bytesMax else { break }
            result.append(character)
        }
        return result + "…"
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
            SELECT e.id, e.agent_id, e.reserved_micro, e.state = 'DISPATCHED', a.name
            FROM executions e JOIN agents a ON a.id = e.agent_id
            WHERE e.state IN ('RESERVED', 'DISPATCHED') ORDER BY e.created_at, e.id
            """) { ($0.text(0), $0.int64(1), $0.int64(2), $0.bool(3), $0.text(4)) }
        for (executionID, agentID, amount, dispatched, name) in open {
            if dispatched {
                try db.run(
                    """
                    UPDATE executions SET state = 'COMMITTED', cost_micro = reserved_micro, estimated = 1, recovered = 1,
                        settled_at = ? WHERE id = ?
                    """,
                    [.integer(nowMicros), .text(executionID)])
                db.ledgerState.counterChanges.add(agentID: agentID, .settlement(reserved: MicroUSD(amount), cost: MicroUSD(amount)))
            } else {
                try db.run("UPDATE executions SET state = 'RELEASED', recovered = 1, settled_at = ? WHERE id = ?",
                           [.integer(nowMicros), .text(executionID)])
                db.ledgerState.counterChanges.add(agentID: agentID, .settlement(reserved: MicroUSD(amount), cost: .zero))
            }
            let payload = MoneyEventPayload.recovery(.init(
                amount: MicroUSD(amount), charged: dispatched, reason: "reservation left open by a process that stopped"))
            try EventLog.append(
                LedgerEvent(type: .recovery, agentID: agentID, agentName: name, executionID: executionID, payloadText: payload.encoded()),
                to: db, nowMicros: nowMicros)
        }
        return open.count
    }
}
