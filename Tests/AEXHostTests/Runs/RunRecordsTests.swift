import Foundation
import Glibc
import Testing
@testable import AEXHost

/// A run's row changes with its ledger event, in one transaction (SPEC §12, §10).
@Suite struct RunRecordsTests {
    let now: Int64 = 1_700_000_000_000_000

    func setUp(_ dir: TemporaryDirectory) throws -> (StoreWriter, AgentService) {
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        let agents = AgentService(writer: writer, registry: try AgentService.loadRegistry(writer), now: { [now] in now })
        var settings = AgentSettings()
        settings.budget = MicroUSD(1_000_000)
        settings.rpm = 100
        _ = try agents.executeAndWait(.create(name: "bot", settings: settings)).get()
        return (writer, agents)
    }

    func request(_ agent: String = "bot", cap: Int64? = 500) -> RunRecords.Request {
        RunRecords.Request(agentName: agent, cap: cap.map(MicroUSD.init), ttlSeconds: 60, killOnExhaust: true,
                           command: ["python3", "agent.py"], supervisor: ProcessIdentity.current(pid: getpid())!)
    }

    func events(_ writer: StoreWriter) throws -> [String] {
        try writer.perform { db in try db.query("SELECT type FROM event_log ORDER BY seq") { $0.text(0) } }
    }

    @Test func aRunStartsStopsOnceAndEndsOnceWithItsSpending() throws {
        let dir = TemporaryDirectory()
        let (writer, _) = try setUp(dir)
        defer { writer.stop() }
        let now = self.now
        let request = self.request()
        let (run, token) = try writer.perform { db in try RunRecords.start(request, db, nowMicros: now) }
        #expect(run.id.hasPrefix("run_") && run.id.count == 20)
        #expect(Token.shape(token) == .agent && run.tokenSHA256 == Token.digestHex(token))
        #expect(run.expiresAtMicros == now + 60_000_000)
        #expect(run.state == .running)

        // Two calls of the run, one of the agent: the run's spending is its committed calls only.
        try writer.perform { db in
            for (id, runID, cost) in [("exec_1", run.id, 120), ("exec_2", run.id, 30), ("exec_3", nil, 999)] as [(String, String?, Int64)] {
                let reservation = ExecutionLedger.Reservation(
                    executionID: id, agentID: run.agentID, agentName: "bot", endpoint: "chat/completions", model: "m",
                    amount: MicroUSD(200), promptTokensBound: 1, completionTokensBound: 1, runID: runID)
                try ExecutionLedger.reserve(reservation, db, nowMicros: now)
                try ExecutionLedger.settle(reservation, .committed(cost: MicroUSD(cost), promptTokens: 1, completionTokens: 1,
                                                                   estimated: false, status: 200), db, nowMicros: now)
            }
        }
        let child = ProcessIdentity.current(pid: getpid())!
        #expect(try writer.perform { db in try RunRecords.attach(run.id, child: child, db) }.child == child)
        let stopped = try writer.perform { db in try RunRecords.stop(run.id, reason: .killed, db, nowMicros: now) }
        #expect(stopped?.state == .stopping)
        #expect(try writer.perform { db in try RunRecords.stop(run.id, reason: .killed, db, nowMicros: now) } == nil, "stopped once")
        let active = try writer.perform { db in try RunRecords.active(db).map { $0.run.id } }
        #expect(active == [run.id])

        let ending = RunRecords.Ending(exitCode: nil, signal: 15, reason: RunRecords.Ending.exited)
        let ended = try writer.perform { db in try RunRecords.end(run.id, ending, db, nowMicros: now) }
        #expect(ended?.spent == MicroUSD(150))
        #expect(try writer.perform { db in try RunRecords.end(run.id, ending, db, nowMicros: now) } == nil, "ended once")
        #expect(try writer.perform { db in try RunRecords.active(db) }.isEmpty)
        let types = try events(writer).filter { $0.hasPrefix("run") || $0 == "process_killed" }
        #expect(types == ["run_started", "process_killed", "run_ended"])
        let payload = try writer.perform { db in
            try db.query("SELECT payload FROM event_log WHERE type = 'run_ended'") { $0.text(0) }.first
        }
        #expect(payload?.contains("\"spent_micro\":150") == true)
        #expect(payload?.contains("\"signal\":15") == true)
    }

    @Test func aPausedOrUnknownAgentStartsNoRun() throws {
        let dir = TemporaryDirectory()
        let (writer, agents) = try setUp(dir)
        defer { writer.stop() }
        let now = self.now
        let unknown = request("nobody")
        #expect(throws: ManagementError.notFound("nobody")) { try writer.perform { db in try RunRecords.start(unknown, db, nowMicros: now) } }
        _ = try agents.executeAndWait(.pause(name: "bot")).get()
        let paused = request()
        #expect(throws: ManagementError.self) { try writer.perform { db in try RunRecords.start(paused, db, nowMicros: now) } }
        #expect(try events(writer).contains("run_started") == false)
    }

    @Test func aLongCommandIsCutToItsBound() {
        let long = ["cmd"] + Array(repeating: String(repeating: "x", count: 1_000), count: 10)
        let cut = RunRecords.cut(long)
        #expect(cut.joined(separator: " ").utf8.count <= RunRecords.commandBytesMax)
        #expect(cut.count == 5)
    }
}
