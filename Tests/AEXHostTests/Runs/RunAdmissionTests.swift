import Testing
@testable import AEXHost

/// A run's cap and its agent's budget are checked in one admission step (SPEC §12).
@Suite struct RunAdmissionTests {
    func registry(budget: Int64) -> AgentRegistry {
        AgentRegistry(agents: [Agent(
            id: 1, name: "bot", state: .active, budget: MicroUSD(budget), spent: .zero, reserved: .zero, rpm: 1_000, tpm: nil,
            policy: .default, tokenSHA256: Token.digestHex("aex_agentagentagentagentagentagentagentagentagent"),
            tokenPrefix: "aex_agentage", tokenExpiresAtMicros: nil, tokenTTLSeconds: nil, createdAtMicros: 0)])
    }

    func run(_ id: String, cap: Int64?, token: String) -> RunCredential {
        RunCredential(runID: id, agentID: 1, agentName: "bot", tokenSHA256: Token.digestHex(token), tokenPrefix: Token.displayPrefix(token),
                      expiresAtMicros: 5_000, cap: cap.map(MicroUSD.init))
    }

    @Test func aCallMustFitBothTheRunsCapAndTheAgentsBudget() {
        let agents = registry(budget: 1_000)
        agents.putRun(run("run_a", cap: 300, token: "aex_runAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        #expect(agents.admit(agentID: 1, name: "bot", runID: "run_a", amount: MicroUSD(200), tokens: 0, nowMillis: 0) == .admitted)
        // The run's cap refuses, and says so; nothing moves.
        #expect(agents.admit(agentID: 1, name: "bot", runID: "run_a", amount: MicroUSD(200), tokens: 0, nowMillis: 1)
            == .budgetExceeded(remaining: MicroUSD(100), runID: "run_a"))
        #expect(agents.agent(named: "bot")?.reserved == MicroUSD(200))
        #expect(agents.run("run_a")?.balance.reserved == MicroUSD(200))
        // The agent's own token is bounded by the agent's budget only.
        #expect(agents.admit(agentID: 1, name: "bot", amount: MicroUSD(750), tokens: 0, nowMillis: 2) == .admitted)
        // The run's cap has room, the agent's budget has not: refused by the agent, the run's part undone.
        #expect(agents.admit(agentID: 1, name: "bot", runID: "run_a", amount: MicroUSD(80), tokens: 0, nowMillis: 3)
            == .budgetExceeded(remaining: MicroUSD(50)))
        #expect(agents.run("run_a")?.balance.reserved == MicroUSD(200))
        // Settling a run's call moves both; the run's remaining cap is reported.
        let settled = agents.settle(agentID: 1, name: "bot", runID: "run_a", reserved: MicroUSD(200), cost: MicroUSD(250))
        #expect(settled?.remaining == MicroUSD(0))
        #expect(settled?.runRemaining == MicroUSD(50))
        #expect(agents.run("run_a")?.balance.spent == MicroUSD(250))
    }

    @Test func twoRunsOfOneAgentHaveTheirOwnCaps() {
        let agents = registry(budget: 1_000)
        agents.putRun(run("run_a", cap: 100, token: "aex_runAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        agents.putRun(run("run_b", cap: 100, token: "aex_runBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"))
        #expect(agents.admit(agentID: 1, name: "bot", runID: "run_a", amount: MicroUSD(100), tokens: 0, nowMillis: 0) == .admitted)
        #expect(agents.admit(agentID: 1, name: "bot", runID: "run_a", amount: MicroUSD(1), tokens: 0, nowMillis: 0)
            == .budgetExceeded(remaining: .zero, runID: "run_a"))
        #expect(agents.admit(agentID: 1, name: "bot", runID: "run_b", amount: MicroUSD(100), tokens: 0, nowMillis: 0) == .admitted)
        // A withdrawn admission gives the run its reservation back.
        agents.withdraw(agentID: 1, name: "bot", runID: "run_b", reserved: MicroUSD(100), tokens: 0, admittedAtMillis: 0)
        #expect(agents.run("run_b")?.balance.reserved == .zero)
    }

    @Test func aRunsTokenFindsItsAgentAndRunUntilRevoked() {
        let agents = registry(budget: 1_000)
        let token = "aex_runAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        agents.putRun(run("run_a", cap: nil, token: token))
        let caller = agents.caller(holding: token)
        #expect(caller?.agent.name == "bot")
        #expect(caller?.runID == "run_a")
        #expect(caller?.expiresAtMicros == 5_000)
        #expect(agents.caller(holding: "aex_agentagentagentagentagentagentagentagentagent")?.runID == nil)
        #expect(agents.caller(holding: "aex_runAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB") == nil, "same prefix, another token")
        agents.removeRun("run_a")
        #expect(agents.caller(holding: token) == nil)
        // A revoked run's calls are refused as gone.
        #expect(agents.admit(agentID: 1, name: "bot", runID: "run_a", amount: MicroUSD(1), tokens: 0, nowMillis: 0) == .gone)
    }

    @Test func deletingTheAgentRevokesItsRuns() {
        let agents = registry(budget: 1_000)
        let token = "aex_runAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        agents.putRun(run("run_a", cap: nil, token: token))
        var deleted = agents.agent(named: "bot")!
        deleted.state = .deleted
        agents.put(deleted)
        #expect(agents.caller(holding: token) == nil)
        #expect(agents.run("run_a") == nil)
    }
}
