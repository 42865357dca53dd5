import Dispatch
import Glibc
import Testing
@testable import AEXHost

/// Counter changes applied at commit must survive an operation that reads the counters (and so
/// applies them early) and then fails: its savepoint rolls the early UPDATE back, so the changes
/// of the operations before it must be applied again at commit.
@Suite struct AgentCounterChangesTests {
    func reservation(_ id: String, _ agent: Agent, _ amount: Int64) -> ExecutionLedger.Reservation {
        ExecutionLedger.Reservation(executionID: id, agentID: agent.id, agentName: agent.name, endpoint: "chat/completions", model: "m",
                                    amount: MicroUSD(amount), promptTokensBound: 1, completionTokensBound: 1)
    }

    @Test func aFailingReaderLaterInTheBatchLosesNoEarlierChange() throws {
        let dir = TemporaryDirectory()
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        defer { writer.stop() }
        let agent = try TestAgents.create(writer, name: "bot", budgetMicro: 1_000)
        // The first batch holds the writer while the next two queue up: they commit together.
        let done = DispatchGroup()
        done.enter()
        writer.submit({ _ in usleep(100_000) }) { _ in done.leave() }
        usleep(20_000)
        done.enter()
        let reserve = reservation("e1", agent, 70)
        writer.submit({ db in try ExecutionLedger.reserve(reserve, db, nowMicros: 1) }) { result in
            #expect(throws: Never.self) { try result.get() }
            done.leave()
        }
        done.enter()
        writer.submit({ db in
            _ = try AgentService.apply(.pause(name: "nobody"), db, nowMicros: 2)  // reads agents, then fails
        }) { result in
            #expect(throws: ManagementError.self) { try result.get() }
            done.leave()
        }
        done.wait()
        let counters = try writer.perform { db in
            try db.query("SELECT reserved_micro FROM agents WHERE id = ?", [.integer(agent.id)]) { $0.int64(0) }.first
        }
        #expect(counters == 70, "the reservation committed, so its counter change did too")
        #expect(try LedgerVerifier.verify(SQLiteDatabase(path: dir.path + "/aex.db", readOnly: true)).ok)
    }

    @Test func aFailingOperationThatReadCountersLeavesNothing() throws {
        let dir = TemporaryDirectory()
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        defer { writer.stop() }
        let agent = try TestAgents.create(writer, name: "bot", budgetMicro: 1_000)
        let reserve = reservation("e1", agent, 70)
        #expect(throws: (any Error).self) {
            try writer.perform { db -> Int in
                try ExecutionLedger.reserve(reserve, db, nowMicros: 1)
                _ = try AgentTable.live(db)  // applies the change early, inside this operation's savepoint
                throw StoreError.writerStopped
            }
        }
        let counters = try writer.perform { db in
            try db.query("SELECT reserved_micro FROM agents WHERE id = ?", [.integer(agent.id)]) { $0.int64(0) }.first
        }
        #expect(counters == 0)
        #expect(try LedgerVerifier.verify(SQLiteDatabase(path: dir.path + "/aex.db", readOnly: true)).ok)
    }
}
