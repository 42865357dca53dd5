import Testing
@testable import AEXHost

@Suite struct AgentServiceTests {
    func service(_ dir: TemporaryDirectory) throws -> (StoreWriter, AgentService) {
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        return (writer, AgentService(writer: writer, registry: try AgentService.loadRegistry(writer), now: { 1_700_000_000_000_000 }))
    }

    func settings(budget: Int64, rpm: Int64) -> AgentSettings {
        var settings = AgentSettings()
        settings.budget = MicroUSD(budget)
        settings.rpm = rpm
        return settings
    }

    @Test func lifecycleWithLedgerEvents() throws {
        let dir = TemporaryDirectory()
        let (writer, agents) = try service(dir)
        defer { writer.stop() }

        let created = try agents.executeAndWait(.create(name: "bot", settings: settings(budget: 2_010_000, rpm: 60))).get()
        let token = try #require(created.token)
        #expect(Token.shape(token) == .agent)
        #expect(created.agent.tokenSHA256 == Token.digestHex(token))
        #expect(agents.registry.agent(holding: token)?.name == "bot")

        #expect(agents.executeAndWait(.create(name: "bot", settings: settings(budget: 1, rpm: 1))).failure == .alreadyExists("bot"))

        var change = AgentSettings()
        change.addBudget = MicroUSD(990_000)
        change.models = .some(["a", "b"])
        change.tpm = .some(1_000)
        let updated = try agents.executeAndWait(.update(name: "bot", settings: change)).get().agent
        #expect(updated.budget == MicroUSD(3_000_000))
        #expect(updated.policy.models == ["a", "b"])
        #expect(updated.tpm == 1_000)

        #expect(try agents.executeAndWait(.pause(name: "bot")).get().agent.state == .paused)
        #expect(try agents.executeAndWait(.resume(name: "bot")).get().agent.state == .active)

        let rotated = try agents.executeAndWait(.rotateToken(name: "bot", ttlSeconds: .some(60))).get()
        let newToken = try #require(rotated.token)
        #expect(agents.registry.agent(holding: token) == nil, "the old token stops working at once")
        #expect(agents.registry.agent(holding: newToken)?.name == "bot")
        let expectedExpiry: Int64 = 1_700_000_000_000_000 + 60_000_000
        #expect(rotated.agent.tokenExpiresAtMicros == expectedExpiry)

        _ = try agents.executeAndWait(.delete(name: "bot")).get()
        #expect(agents.registry.agent(named: "bot") == nil)
        #expect(agents.registry.agent(holding: newToken) == nil)
        #expect(agents.executeAndWait(.pause(name: "bot")).failure == .notFound("bot"))
        let reused = try agents.executeAndWait(.create(name: "bot", settings: settings(budget: 0, rpm: 1))).get()
        #expect(reused.agent.id != created.agent.id, "a deleted name may be reused; the old row stays")

        let events = try writer.perform { db in
            try db.query("SELECT seq, type, agent_id, payload, hash, ts_micros, agent_name, execution_id FROM event_log ORDER BY seq") {
                ($0.int64(0), $0.text(1), $0.optionalInt64(2), $0.text(3), Hex.encode($0.bytes(4)), $0.int64(5), $0.optionalText(6), $0.optionalText(7))
            }
        }
        #expect(events.map(\.1) == [
            "agent_created", "agent_updated", "agent_paused", "agent_resumed", "token_rotated", "agent_deleted", "agent_created",
        ])
        var previous = EventLog.genesisHash
        for event in events {
            let payload = try JSONReader.parse(Array(event.3.utf8))
            let recomputed = EventLog.entryHash(
                seq: event.0, tsMicros: event.5, type: event.1, agentID: event.2, agentName: event.6, executionID: event.7,
                payload: payload, previousHash: previous)
            #expect(event.4 == recomputed)
            previous = event.4
        }
        #expect(!events.contains { $0.3.contains(token) || $0.3.contains(newToken) }, "tokens never reach the ledger")
    }

    @Test func budgetCannotDropBelowWhatIsCommitted() throws {
        let dir = TemporaryDirectory()
        let (writer, agents) = try service(dir)
        defer { writer.stop() }
        _ = try agents.executeAndWait(.create(name: "a", settings: settings(budget: 100, rpm: 1))).get()
        try writer.perform { db in try db.run("UPDATE agents SET spent_micro = 80 WHERE name = 'a'") }
        var lower = AgentSettings()
        lower.budget = MicroUSD(50)
        #expect(agents.executeAndWait(.update(name: "a", settings: lower)).failure != nil)
        var overflow = AgentSettings()
        overflow.addBudget = MicroUSD(Int64.max)
        #expect(agents.executeAndWait(.update(name: "a", settings: overflow)).failure != nil)
    }

    /// A budget past Int64 micro-USD is the caller's mistake (400 invalid_request), never a store
    /// failure (500), on every path that adds to a budget; nothing changes.
    @Test func budgetOverflowIsAnInvalidRequest() throws {
        let dir = TemporaryDirectory()
        let (writer, agents) = try service(dir)
        defer { writer.stop() }
        let huge = MicroUSD(9_000_000_000_000_000_000)
        _ = try agents.executeAndWait(.create(name: "a", settings: settings(budget: huge.value, rpm: 1))).get()

        var add = AgentSettings()
        add.addBudget = huge
        let failure = try #require(agents.executeAndWait(.update(name: "a", settings: add)).failure)
        #expect(failure.status == 400 && failure.code == "invalid_request", "\(failure)")
        #expect(failure.description.contains("largest amount"), "\(failure)")

        var both = add
        both.budget = huge
        #expect(agents.executeAndWait(.update(name: "a", settings: both)).failure?.status == 400)
        #expect(throws: ManagementError.self) { try both.validate() }

        var create = settings(budget: huge.value, rpm: 1)
        create.addBudget = huge
        #expect(agents.executeAndWait(.create(name: "b", settings: create)).failure?.status == 400)
        #expect(agents.registry.agent(named: "b") == nil)
        #expect(agents.registry.agent(named: "a")?.budget == huge, "nothing changed")

        var top = AgentSettings()
        top.addBudget = MicroUSD(Int64.max - huge.value)
        #expect(try agents.executeAndWait(.update(name: "a", settings: top)).get().agent.budget == MicroUSD(Int64.max))
    }

    @Test func registryReloadsFromTheDatabase() throws {
        let dir = TemporaryDirectory()
        let token: String
        do {
            let (writer, agents) = try service(dir)
            token = try #require(try agents.executeAndWait(.create(name: "keep", settings: settings(budget: 5, rpm: 2))).get().token)
            _ = try agents.executeAndWait(.create(name: "gone", settings: settings(budget: 5, rpm: 2))).get()
            _ = try agents.executeAndWait(.delete(name: "gone")).get()
            writer.stop()
        }
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        defer { writer.stop() }
        let registry = try AgentService.loadRegistry(writer)
        #expect(registry.all().map(\.name) == ["keep"])
        #expect(registry.agent(holding: token)?.budget == MicroUSD(5))
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
