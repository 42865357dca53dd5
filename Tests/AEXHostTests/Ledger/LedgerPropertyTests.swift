import Foundation
import Testing
@testable import AEXHost

/// Seeded random sequences of reserve, commit, release, overdraft, deny, a write that fails half-way
/// and a simulated crash, over several agents, on a temporary database. After every step:
/// `spent + reserved ≤ budget` (plus recorded overdrafts), the counters equal the replay of the
/// events, and the chain links. The seed is printed; rerun one with `AEX_PROPERTY_SEED=N`.
@Suite struct LedgerPropertyTests {
    static let steps = 10_000
    static let agentCount = 4

    struct Open {
        var reservation: ExecutionLedger.Reservation
    }

    /// What the test knows independently of the database: overdrafts it caused, per agent.
    struct Model {
        var overdraftMicro: [Int64: Int64] = [:]
        var open: [Open] = []
    }

    /// Chain and replay checked incrementally: only the entries appended since the last check.
    struct IncrementalCheck {
        var head = EventLog.Head(seq: 0, hash: EventLog.genesisHash)
        var replay = LedgerReplay()

        mutating func advance(_ db: SQLiteDatabase) throws -> String? {
            let rows = try db.query(
                "SELECT seq, ts_micros, type, agent_id, agent_name, execution_id, payload, hash FROM event_log WHERE seq > ? ORDER BY seq",
                [.integer(head.seq)]) { row in
                (row.int64(0), row.int64(1), row.text(2), row.optionalInt64(3), row.optionalText(4), row.optionalText(5), row.bytes(6), Hex.encode(row.bytes(7)))
            }
            for (seq, ts, type, agentID, agentName, executionID, payload, hash) in rows {
                guard seq == head.seq + 1 else { return "entry \(seq) follows \(head.seq)" }
                let recomputed = EventLog.entryHash(seq: seq, tsMicros: ts, type: type, agentID: agentID, agentName: agentName,
                                                    executionID: executionID, payloadText: payload, previousHash: head.hash)
                guard recomputed == hash else { return "entry \(seq) does not match its hash" }
                do { try replay.apply(type: type, agentID: agentID, payloadText: payload) } catch { return "entry \(seq): \(error.reason)" }
                head = EventLog.Head(seq: seq, hash: hash)
            }
            return nil
        }
    }

    @Test func randomSequencesKeepEveryInvariant() throws {
        let seed = ProcessInfo.processInfo.environment["AEX_PROPERTY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("ledger property test: seed \(seed) (rerun with AEX_PROPERTY_SEED=\(seed))")
        var random = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let path = dir.path + "/aex.db"
        var writer = try StoreWriter(path: path, durability: .normal)
        var registry = try AgentService.loadRegistry(writer)
        var agents: [Agent] = []
        var service = AgentService(writer: writer, registry: registry)
        do {
            for index in 0..<Self.agentCount {
                var settings = AgentSettings()
                settings.budget = MicroUSD(Int64.random(in: 500...20_000, using: &random))
                settings.rpm = 1_000_000
                agents.append(try service.executeAndWait(.create(name: "agent\(index)", settings: settings)).get().agent)
            }
        }
        var model = Model()
        var check = IncrementalCheck()
        let reader = try SQLiteDatabase(path: path, readOnly: true)
        var clock: Int64 = 1_000
        var counter = 0
        var kinds: [String: Int] = [:]

        for step in 0..<Self.steps {
            clock += 1
            let now = clock
            let roll = Int.random(in: 0..<1_000, using: &random)
            let kind: String
            switch roll {
            case 0..<380:
                kind = "reserve"
                let agent = agents[Int.random(in: 0..<agents.count, using: &random)]
                let amount = MicroUSD(Int64.random(in: 1...600, using: &random))
                counter += 1
                let r = ExecutionLedger.Reservation(
                    executionID: "e\(counter)", agentID: agent.id, agentName: agent.name, endpoint: "chat/completions", model: "m",
                    amount: amount, promptTokensBound: 1, completionTokensBound: 1)
                switch registry.admit(agentID: agent.id, name: agent.name, amount: amount, tokens: 2, nowMillis: now) {
                case .admitted:
                    try writer.perform { db in try ExecutionLedger.reserve(r, db, nowMicros: now) }
                    model.open.append(Open(reservation: r))
                case .budgetExceeded:
                    try writer.perform { db in
                        try ExecutionLedger.deny(executionID: r.executionID, agentID: agent.id, agentName: agent.name, endpoint: r.endpoint,
                                                 status: 402, code: "budget_exceeded", reason: "test", db, nowMicros: now)
                    }
                default:
                    Issue.record("seed \(seed) step \(step): unexpected admission")
                }
            case 380..<800:
                guard !model.open.isEmpty else { kind = "idle"; break }
                let open = model.open.remove(at: Int.random(in: 0..<model.open.count, using: &random))
                let r = open.reservation
                let outcome: ExecutionLedger.Outcome
                let cost: MicroUSD
                if roll < 680 {
                    kind = "commit"
                    cost = MicroUSD(Int64.random(in: 0...r.amount.value, using: &random))
                    outcome = .committed(cost: cost, promptTokens: 1, completionTokens: 1, estimated: false, status: 200)
                } else if roll < 770 {
                    kind = "release"
                    cost = .zero
                    outcome = .released(reason: "provider failed", status: 502)
                } else {
                    kind = "overdraft"
                    cost = MicroUSD(r.amount.value + Int64.random(in: 1...100, using: &random))
                    outcome = .committed(cost: cost, promptTokens: 1, completionTokens: 1, estimated: false, status: 200)
                    model.overdraftMicro[r.agentID, default: 0] += cost.value - r.amount.value
                }
                registry.settle(agentID: r.agentID, name: r.agentName, reserved: r.amount, cost: cost)
                try writer.perform { db in try ExecutionLedger.settle(r, outcome, db, nowMicros: now) }
            case 800..<870:
                kind = "deny"
                let agent = agents[Int.random(in: 0..<agents.count, using: &random)]
                counter += 1
                let id = "e\(counter)"
                try writer.perform { db in
                    try ExecutionLedger.deny(executionID: id, agentID: agent.id, agentName: agent.name, endpoint: "chat/completions",
                                             status: 403, code: "policy_violation", reason: "test", db, nowMicros: now)
                }
            case 870..<930:
                kind = "top up"
                // The operator adds budget (an overdrawn agent may become usable again).
                let agent = agents[Int.random(in: 0..<agents.count, using: &random)]
                var settings = AgentSettings()
                settings.addBudget = MicroUSD(Int64.random(in: 100...5_000, using: &random))
                _ = try service.executeAndWait(.update(name: agent.name, settings: settings)).get()
            case 930..<995:
                kind = "failed write"
                // A reservation whose transaction fails after writing: nothing of it may remain.
                let agent = agents[Int.random(in: 0..<agents.count, using: &random)]
                counter += 1
                let r = ExecutionLedger.Reservation(
                    executionID: "e\(counter)", agentID: agent.id, agentName: agent.name, endpoint: "chat/completions", model: "m",
                    amount: MicroUSD(1), promptTokensBound: 1, completionTokensBound: 1)
                #expect(throws: (any Error).self) {
                    try writer.perform { db -> Int in
                        try ExecutionLedger.reserve(r, db, nowMicros: now)
                        _ = try AgentTable.live(db)  // applies the counter change early, inside the savepoint
                        throw StoreError.writerStopped
                    }
                }
            default:
                kind = "crash"
                // The process dies with reservations open; the next one recovers them at start.
                writer.stop()
                writer = try StoreWriter(path: path, durability: .normal)
                let recovered = try writer.perform { db in try ExecutionLedger.recoverOpenReservations(db, nowMicros: now) }
                #expect(recovered == model.open.count, "seed \(seed) step \(step): every open reservation recovered")
                model.open.removeAll()
                registry = try AgentService.loadRegistry(writer)
                service = AgentService(writer: writer, registry: registry)
            }
            kinds[kind, default: 0] += 1

            // The first broken invariant ends the run (everything after it would repeat it).
            if let problem = try check.advance(reader) {
                Issue.record("seed \(seed) step \(step) (\(kind)): \(problem)")
                return
            }
            let counters = try reader.query("SELECT id, budget_micro, spent_micro, reserved_micro FROM agents") {
                ($0.int64(0), $0.int64(1), $0.int64(2), $0.int64(3))
            }
            for (id, budget, spent, reserved) in counters {
                let replayed = check.replay.balances[id] ?? LedgerReplay.Balance()
                guard replayed == LedgerReplay.Balance(spentMicro: spent, reservedMicro: reserved) else {
                    Issue.record("seed \(seed) step \(step) (\(kind)): agent \(id) counters spent \(spent), reserved \(reserved); replay \(replayed)")
                    return
                }
                guard spent + reserved <= budget + model.overdraftMicro[id, default: 0], spent >= 0, reserved >= 0 else {
                    Issue.record("seed \(seed) step \(step) (\(kind)): agent \(id) spent \(spent) + reserved \(reserved) > budget \(budget)")
                    return
                }
            }
            if step % 2_500 == 2_499 {
                let report = try LedgerVerifier.verify(SQLiteDatabase(path: path, readOnly: true))
                let open = model.open.count
                #expect(report.ok, "seed \(seed) step \(step): \(report.problems)")
                #expect(try reader.query("SELECT count(*) FROM reservations") { Int($0.int64(0)) }.first == open)
            }
        }
        writer.stop()
        #expect(kinds["crash", default: 0] >= 10 && kinds["overdraft", default: 0] >= 100 && kinds["commit", default: 0] >= 1_000
                    && kinds["release", default: 0] >= 300 && kinds["deny", default: 0] >= 300 && kinds["top up", default: 0] >= 300,
                "seed \(seed): every kind of step ran: \(kinds)")
        #expect(check.head.seq > Int64(Self.steps / 2), "seed \(seed): the ledger grew")
    }
}
