/// The ledger operations of governed calls, typed: request handlers reserve, settle, deny and
/// record through these, never naming the database. Each runs on the store writer inside its group
/// commit; completions come back on the caller's loop.
final class CallLedger: Sendable {
    private let writer: StoreWriter
    private let settlementRetry: SettlementRetry
    private let now: @Sendable () -> Int64

    init(writer: StoreWriter, logger: Logger?, now: @escaping @Sendable () -> Int64 = WallClock.nowMicros) {
        self.writer = writer
        self.now = now
        settlementRetry = SettlementRetry(writer: writer, logger: logger)
    }

    /// Records a reservation (its `executions` row, its event, the agent's counters); `then`
    /// runs on `loop` with whether it is durable.
    func reserve(_ reservation: ExecutionLedger.Reservation, on loop: EventLoop, then: @escaping @Sendable (_ recorded: Bool) -> Void) {
        let now = self.now
        let payload = ExecutionLedger.reservationPayload(reservation)
        writer.submit({ db in try ExecutionLedger.reserve(reservation, payload: payload, db, nowMicros: now()) }, on: loop) { result in
            if case .success = result { then(true) } else { then(false) }
        }
    }

    /// Records a settlement; `then` runs on `loop` with whether it is durable. One the ledger
    /// refused is written again (`SettlementRetry`) until it lands, so the database catches up
    /// with the balance in memory.
    ///
    /// `keeping`: a successful call's answer stored for its `Idempotency-Key` in the same
    /// transaction (its SHA-256 in the commit event), within `bytesMax` of stored answers. A
    /// settlement written again later stores no answer: its client was told it failed, and a retry
    /// of it may already have run afresh.
    func settle(_ reservation: ExecutionLedger.Reservation, _ outcome: ExecutionLedger.Outcome,
                keeping kept: (answer: IdempotentAnswer, bytesMax: Int)? = nil, on loop: EventLoop,
                then: @escaping @Sendable (_ recorded: Bool) -> Void) {
        let now = self.now
        let payload = ExecutionLedger.settlementPayload(reservation, outcome)
        let write: @Sendable (SQLiteDatabase) throws -> Void = { db in
            try ExecutionLedger.settle(reservation, outcome, payload: payload, db, nowMicros: now())
        }
        var first = write
        if let kept, kept.answer.body.count <= kept.bytesMax {
            let keptPayload = ExecutionLedger.settlementPayload(reservation, outcome, responseSHA256: SHA256.hex(kept.answer.body))
            first = { db in
                let nowMicros = now()
                try ExecutionLedger.settle(reservation, outcome, payload: keptPayload, db, nowMicros: nowMicros)
                try IdempotentAnswers.store(kept.answer, bytesMax: kept.bytesMax, db, nowMicros: nowMicros)
            }
        }
        writer.submit(first, on: loop) { [settlementRetry] result in
            if case .failure(let error) = result {
                settlementRetry.retry(executionID: reservation.executionID, after: error, write)
                then(false)
            } else {
                then(true)
            }
        }
    }

    /// Records a refused request (an agent's, or, with no agent, a refused credential).
    func deny(executionID: String, agentID: Int64?, agentName: String?, endpoint: String, status: Int, code: String, reason: String,
              unrecordedBefore: Int64? = nil) {
        let now = self.now
        writer.submit({ db in
            try ExecutionLedger.deny(
                executionID: executionID, agentID: agentID, agentName: agentName, endpoint: endpoint, status: status,
                code: code, reason: reason, unrecordedBefore: unrecordedBefore, db, nowMicros: now())
        }) { _ in }
    }

    /// Appends a governance event that moves no money (a configuration reload, …).
    func record(_ event: LedgerEvent) {
        let now = self.now
        writer.submit({ db in _ = try EventLog.append(event, to: db, nowMicros: now()) }) { _ in }
    }

    /// At start, before serving: resolves the reservations a stopped process left open (SPEC §7).
    func recoverOpenReservations() throws -> Int {
        let now = self.now
        return try writer.perform { db in try ExecutionLedger.recoverOpenReservations(db, nowMicros: now()) }
    }

    /// The largest execution id of the `exec_` form recorded (at start, before serving).
    func lastExecutionID() throws -> String? {
        try writer.perform { db in try ExecutionLedger.lastExecutionID(db) }
    }
}
