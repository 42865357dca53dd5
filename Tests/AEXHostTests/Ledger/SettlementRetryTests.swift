import Glibc
import Synchronization
import Testing
@testable import AEXHost

@Suite struct SettlementRetryTests {
    /// A write that fails its first `failures` attempts, then settles the reservation.
    final class FlakyWrite: Sendable {
        let attempts = Atomic<Int>(0)
        let failures: Int
        let reservation: ExecutionLedger.Reservation
        init(failures: Int, reservation: ExecutionLedger.Reservation) {
            self.failures = failures
            self.reservation = reservation
        }
        func write(_ db: SQLiteDatabase) throws {
            if attempts.add(1, ordering: .relaxed).newValue <= failures { throw SQLiteError(code: 13, message: "database or disk is full") }
            try ExecutionLedger.settle(reservation, .committed(cost: MicroUSD(4), promptTokens: 1, completionTokens: 1, estimated: false, status: 200),
                                       db, nowMicros: 20)
        }
    }

    static func waitUntil(_ condition: () throws -> Bool) rethrows -> Bool {
        for _ in 0..<200 {
            if try condition() { return true }
            usleep(20_000)
        }
        return false
    }

    @Test func aRefusedSettlementLandsOnALaterAttempt() throws {
        let dir = TemporaryDirectory()
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        defer { writer.stop() }
        let agent = try TestAgents.create(writer, name: "bot", budgetMicro: 1_000)
        let reservation = ExecutionLedger.Reservation(executionID: "e1", agentID: agent.id, agentName: "bot", endpoint: "chat/completions",
                                                      model: "m", amount: MicroUSD(10), promptTokensBound: 1, completionTokensBound: 1)
        try writer.perform { db in try ExecutionLedger.reserve(reservation, db, nowMicros: 1) }
        let flaky = FlakyWrite(failures: 2, reservation: reservation)
        let retry = SettlementRetry(writer: writer, logger: nil)
        retry.retry(executionID: "e1", after: SQLiteError(code: 13, message: "database or disk is full"), flaky.write)
        #expect(retry.pending == 1)
        #expect(Self.waitUntil { retry.pending == 0 })
        #expect(flaky.attempts.load(ordering: .relaxed) == 3, "two refusals, then the write that landed")
        let row = try writer.perform { db in
            try db.query("SELECT e.state, e.cost_micro, a.spent_micro, a.reserved_micro FROM executions e JOIN agents a ON a.id = e.agent_id") {
                "\($0.text(0)) \($0.int64(1)) \($0.int64(2)) \($0.int64(3))"
            }
        }
        #expect(row == ["COMMITTED 4 4 0"])
    }

    @Test func nothingIsRetriedWhenNothingIsLeftToSettle() throws {
        let dir = TemporaryDirectory()
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        let retry = SettlementRetry(writer: writer, logger: nil)
        retry.retry(executionID: "gone", after: ExecutionLedger.ReservationNotOpen(executionID: "gone")) { _ in Issue.record("not retried") }
        #expect(retry.pending == 0)
        #expect(SettlementRetry.isWorthRetrying(SQLiteError(code: 5, message: "database is locked")))
        #expect(!SettlementRetry.isWorthRetrying(StoreError.writerStopped))

        // A writer that stops ends the retries: the next start's recovery resolves the reservation.
        let attempts = Atomic<Int>(0)
        retry.retry(executionID: "e2", after: SQLiteError(code: 10, message: "disk I/O error")) { _ in
            attempts.add(1, ordering: .relaxed)
            throw SQLiteError(code: 10, message: "disk I/O error")
        }
        #expect(Self.waitUntil { attempts.load(ordering: .relaxed) >= 1 })
        writer.stop()
        #expect(Self.waitUntil { retry.pending == 0 })
    }
}
