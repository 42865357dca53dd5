import Testing
@testable import AEXHost

@Suite struct SpendWindowTests {
    @Test func spendingOlderThanAnHourLeavesTheWindow() {
        var window = SpendWindow()
        window.add(100, nowMillis: 0)
        window.add(50, nowMillis: 30 * 60_000)
        #expect(window.lastHourMicro(nowMillis: 59 * 60_000) == 150)
        #expect(window.lastHourMicro(nowMillis: 60 * 60_000) == 50, "the first minute's bucket has left")
        #expect(window.lastHourMicro(nowMillis: 200 * 60_000) == 0)
        window.add(7, nowMillis: 200 * 60_000)
        #expect(window.lastHourMicro(nowMillis: 200 * 60_000) == 7)
    }

    @Test func theRegistryProjectsExhaustionFromTheBurnRate() {
        let registry = AgentRegistry(agents: [Agent(
            id: 1, name: "bot", state: .active, budget: MicroUSD(1_000), spent: .zero, reserved: .zero, rpm: 100, tpm: nil,
            policy: .default, tokenSHA256: String(repeating: "0", count: 64), tokenPrefix: "aex_xxxxxxxx", tokenExpiresAtMicros: nil,
            tokenTTLSeconds: nil, createdAtMicros: 0)])
        let now = WallClock.monotonicMillis()
        #expect(registry.statuses(nowMillis: now).first?.budgetExhaustionSeconds == nil, "nothing spent: no projection")
        #expect(registry.admit(agentID: 1, name: "bot", amount: MicroUSD(100), tokens: 0, nowMillis: now) == .admitted)
        registry.settle(agentID: 1, name: "bot", reserved: MicroUSD(100), cost: MicroUSD(100))
        let status = registry.statuses(nowMillis: WallClock.monotonicMillis()).first
        #expect(status?.requestsLastMinute == 1)
        #expect(status?.spentLastHourMicro == 100)
        #expect(status?.budgetExhaustionSeconds == Double(32_400), "900 left at 100 an hour: 9 hours")
    }
}
