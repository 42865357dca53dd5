import Testing
@testable import AEXHost

@Suite struct ExecutionIDsTests {
    @Test func fixedWidthAndIncreasing() {
        let ids = ExecutionIDs(startingAfter: nil, nowMicros: 1_700_000_000_000_000)
        let first = ids.make()
        let second = ids.make()
        #expect(first == "exec_060a24181e4000" && first.count == 19)
        #expect(second > first && ExecutionIDs.number(second) == ExecutionIDs.number(first)! + 1)
    }

    @Test func aRestartContinuesPastTheLastIdEvenWhenTheClockIsBehind() {
        let ids = ExecutionIDs(startingAfter: 5_000, nowMicros: 10)
        #expect(ExecutionIDs.number(ids.make()) == 5_001)
    }

    @Test func parsesOnlyItsOwnForm() {
        #expect(ExecutionIDs.number("exec_00000000000010") == 16)
        #expect(ExecutionIDs.number("exec_1a2b3c4d5e6f_10") == nil)
        #expect(ExecutionIDs.number("exec_0000000000001g") == nil)
        #expect(ExecutionIDs.number("run_00000000000010") == nil)
    }

    @Test func theLastIdComesFromTheDatabase() throws {
        let dir = TemporaryDirectory()
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        defer { writer.stop() }
        let agent = try TestAgents.create(writer, name: "bot", budgetMicro: 1_000)
        let ledger = CallLedger(writer: writer, logger: nil)
        #expect(try ledger.lastExecutionID() == nil)
        for id in ["exec_0000000000000a", "exec_000000000000ff", "exec_1a2b3c4d5e6f_999"] {
            let reservation = ExecutionLedger.Reservation(executionID: id, agentID: agent.id, agentName: "bot", endpoint: "chat/completions",
                                                          model: "m", amount: MicroUSD(1), promptTokensBound: 1, completionTokensBound: 1)
            try writer.perform { db in try ExecutionLedger.reserve(reservation, db, nowMicros: 1) }
        }
        #expect(try ledger.lastExecutionID().flatMap(ExecutionIDs.number) == 255, "the older id form is skipped")
    }
}
