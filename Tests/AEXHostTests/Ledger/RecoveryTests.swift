import Testing
@testable import AEXHost

@Suite struct RecoveryTests {
    @Test func openReservationsAreChargedOrReleasedOnce() throws {
        let dir = TemporaryDirectory()
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        defer { writer.stop() }
        let agent = try TestAgents.create(writer, name: "bot", budgetMicro: 1_000)
        let agentID = agent.id
        @Sendable func reservation(_ id: String, _ amount: Int64) -> ExecutionLedger.Reservation {
            ExecutionLedger.Reservation(executionID: id, agentID: agentID, agentName: "bot", endpoint: "chat/completions", model: "m",
                                        amount: MicroUSD(amount), promptTokensBound: 1, completionTokensBound: 1)
        }
        try writer.perform { db in
            try ExecutionLedger.reserve(reservation("dispatched", 70), db, nowMicros: 1)
            try ExecutionLedger.reserve(reservation("waiting", 30), db, nowMicros: 2)
            try db.run("UPDATE executions SET state = 'RESERVED' WHERE id = 'waiting'")
            try ExecutionLedger.reserve(reservation("settled", 5), db, nowMicros: 3)
            try ExecutionLedger.settle(reservation("settled", 5), .released(reason: "test", status: 500), db, nowMicros: 4)
        }
        #expect(try writer.perform { db in try ExecutionLedger.recoverOpenReservations(db, nowMicros: 10) } == 2)
        #expect(try writer.perform { db in try ExecutionLedger.recoverOpenReservations(db, nowMicros: 11) } == 0, "once")
        let counters = try writer.perform { db in
            try db.query("SELECT spent_micro, reserved_micro FROM agents WHERE id = ?", [.integer(agent.id)]) { ($0.int64(0), $0.int64(1)) }.first
        }
        #expect(counters?.0 == 70 && counters?.1 == 0, "dispatched charged at the reserved amount, the other released")
        let states = try writer.perform { db in
            try db.query("SELECT id, state, recovered FROM executions ORDER BY id") { "\($0.text(0))=\($0.text(1))/\($0.int64(2))" }
        }
        #expect(states == ["dispatched=COMMITTED/1", "settled=FAILED/0", "waiting=RELEASED/1"])
        let open = try writer.perform { db in try db.query("SELECT count(*) FROM reservations") { $0.int64(0) }.first }
        #expect(open == 0, "no reservation left open")
        let events = try writer.perform { db in try db.query("SELECT count(*) FROM event_log WHERE type = 'recovery'") { $0.int64(0) }.first }
        #expect(events == 2)
    }
}
