import Foundation
import Testing
@testable import AEXHost

/// `LedgerVerifier` on a real database: a clean ledger verifies; each kind of tampering SPEC §10
/// and issue 5 name is caught and reported at the right entry or agent.
@Suite struct LedgerVerifierTests {
    /// Two agents, calls committed, released and left open, one agent deleted; returns the path.
    func ledger(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.path + "/aex.db"
        let writer = try StoreWriter(path: path)
        defer { writer.stop() }
        let bot = try TestAgents.create(writer, name: "bot", budgetMicro: 1_000_000)
        let other = try TestAgents.create(writer, name: "other", budgetMicro: 1_000_000)
        let agents = AgentService(writer: writer, registry: try AgentService.loadRegistry(writer))
        @Sendable func reservation(_ id: String, _ agent: Agent, _ amount: Int64) -> ExecutionLedger.Reservation {
            ExecutionLedger.Reservation(executionID: id, agentID: agent.id, agentName: agent.name, endpoint: "chat/completions",
                                        model: "m", amount: MicroUSD(amount), promptTokensBound: 10, completionTokensBound: 10)
        }
        try writer.perform { db in
            try ExecutionLedger.reserve(reservation("e1", bot, 100), db, nowMicros: 10)
            try ExecutionLedger.settle(reservation("e1", bot, 100), .committed(cost: MicroUSD(40), promptTokens: 5, completionTokens: 5,
                                                                                estimated: false, status: 200), db, nowMicros: 11)
            try ExecutionLedger.reserve(reservation("e2", other, 70), db, nowMicros: 12)
            try ExecutionLedger.settle(reservation("e2", other, 70), .released(reason: "provider answered 500", status: 500), db, nowMicros: 13)
            try ExecutionLedger.reserve(reservation("e3", bot, 30), db, nowMicros: 14)
            try ExecutionLedger.settle(reservation("e3", bot, 30), .committed(cost: MicroUSD(45), promptTokens: 9, completionTokens: 9,
                                                                               estimated: false, status: 200), db, nowMicros: 15)  // overdraft
            try ExecutionLedger.reserve(reservation("e4", bot, 25), db, nowMicros: 16)  // left open
        }
        _ = try agents.executeAndWait(.delete(name: "other")).get()
        return path
    }

    func verify(_ path: String, expectHead: EventLog.Head? = nil) throws -> LedgerVerifier.Report {
        try LedgerVerifier.verify(SQLiteDatabase(path: path, readOnly: true), expectHead: expectHead)
    }

    /// Tampers as an attacker with write access would: triggers dropped first.
    func tamper(_ path: String, _ sql: String) throws {
        let db = try SQLiteDatabase(path: path)
        try db.execute("DROP TRIGGER event_log_no_update; DROP TRIGGER event_log_no_delete; \(sql)")
    }

    @Test func aCleanLedgerVerifiesWithItsBalances() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        let report = try verify(path)
        #expect(report.ok, "\(report.problems)")
        #expect(report.events == 10 && report.head.seq == 10)
        let db = try SQLiteDatabase(path: path, readOnly: true)
        let counters = try db.query("SELECT name, spent_micro, reserved_micro FROM agents ORDER BY id") { "\($0.text(0)) \($0.int64(1)) \($0.int64(2))" }
        #expect(counters == ["bot 85 25", "other 0 0"], "overdraft recorded, open reservation counted, deleted agent kept")
        #expect(try verify(path, expectHead: report.head).ok)
    }

    @Test func anEditedPayloadIsReportedAtItsEntry() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        try tamper(path, "UPDATE event_log SET payload = replace(payload, '\"cost_micro\":40', '\"cost_micro\":4') WHERE seq = 4")
        let report = try verify(path)
        #expect(!report.ok && report.firstBadSeq == 4)
    }

    @Test(arguments: [
        "UPDATE event_log SET ts_micros = ts_micros + 1 WHERE seq = 6",
        "UPDATE event_log SET agent_name = 'bot' WHERE seq = 6",
        "UPDATE event_log SET agent_id = 1 WHERE seq = 6",
        "UPDATE event_log SET execution_id = 'e9' WHERE seq = 6",
        "UPDATE event_log SET type = 'commit' WHERE seq = 6",
    ])
    func anEditedFieldIsReportedAtItsEntry(_ sql: String) throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        try tamper(path, sql)
        let report = try verify(path)
        #expect(!report.ok && report.firstBadSeq == 6, "\(report.problems)")
    }

    @Test func aDeletedEntryIsReportedAtTheNextOne() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        try tamper(path, "DELETE FROM event_log WHERE seq = 5")
        let report = try verify(path)
        #expect(report.firstBadSeq == 6)
    }

    @Test func swappedEntriesAreReportedAtTheFirst() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        try tamper(path, "UPDATE event_log SET seq = -7 WHERE seq = 7; UPDATE event_log SET seq = 7 WHERE seq = 8; UPDATE event_log SET seq = 8 WHERE seq = -7")
        let report = try verify(path)
        #expect(report.firstBadSeq == 7)
    }

    @Test func aCounterChangedBehindTheLedgerNamesTheAgent() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        try tamper(path, "UPDATE agents SET spent_micro = spent_micro - 40 WHERE name = 'bot'")
        let report = try verify(path)
        #expect(report.firstBadSeq == nil, "the chain itself is intact")
        #expect(report.mismatchedAgents.map(\.name) == ["bot"])
        #expect(report.mismatchedAgents.first?.replayed == LedgerReplay.Balance(spentMicro: 85, reservedMicro: 25))
    }

    @Test func aTruncatedTailIsCaughtOnlyAgainstAnExpectedHead() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        let head = try verify(path).head
        try tamper(path, "DELETE FROM event_log WHERE seq = \(head.seq)")
        // The agent deleted in the last entry changes no money: the shorter chain is self-consistent.
        #expect(try verify(path).ok)
        let report = try verify(path, expectHead: head)
        #expect(!report.ok && report.problems.contains { $0.contains("removed from its end") })
        let rewritten = EventLog.Head(seq: head.seq - 1, hash: head.hash)
        #expect(try verify(path, expectHead: rewritten).problems.contains { $0.contains("rewritten") })
    }

    /// `aex ledger verify` reads a database that no writer has upgraded yet (hashes as hex text).
    @Test func aVersion1DatabaseVerifiesReadOnly() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/aex.db"
        var rows = ""
        var previous = EventLog.genesisHash
        for seq in Int64(1)...3 {
            let hash = EventLog.entryHash(seq: seq, tsMicros: seq, type: "config_reload", agentID: nil, agentName: nil,
                                          executionID: nil, payload: .object([:]), previousHash: previous)
            rows += "INSERT INTO event_log (seq, ts_micros, type, payload, prev_hash, hash) VALUES (\(seq), \(seq), 'config_reload', '{}', '\(previous)', '\(hash)');\n"
            previous = hash
        }
        try Version1Database.create(at: path, rows: rows)
        let report = try verify(path)
        #expect(report.ok && report.events == 3, "\(report.problems)")
    }

    @Test func headTextIsSeqColonHash() {
        let hash = String(repeating: "ab", count: 32)
        #expect(LedgerVerifier.parseHead("12:\(hash)") == EventLog.Head(seq: 12, hash: hash))
        #expect(LedgerVerifier.parseHead("12:\(hash.uppercased())") == nil)
        #expect(LedgerVerifier.parseHead("x:\(hash)") == nil)
        #expect(LedgerVerifier.parseHead("12") == nil)
    }
}
