import Testing
@testable import AEXHost

@Suite struct RateWindowTests {
    @Test func admitsExactlyRPMPerSlidingMinute() {
        var window = RateWindow()
        for i in 0..<5 { #expect(window.admit(nowMillis: Int64(i) * 1_000, rpm: 5, tpm: nil, tokens: 1) == nil) }
        #expect(window.admit(nowMillis: 10_000, rpm: 5, tpm: nil, tokens: 1) == 50, "the oldest admission leaves at 60 s")
        #expect(window.admit(nowMillis: 59_999, rpm: 5, tpm: nil, tokens: 1) == 1, "Retry-After is at least one second")
        #expect(window.admit(nowMillis: 60_000, rpm: 5, tpm: nil, tokens: 1) == nil)
        #expect(window.admit(nowMillis: 60_500, rpm: 5, tpm: nil, tokens: 1) == 1)
    }

    @Test func refusalsUseNoCapacity() {
        var window = RateWindow()
        #expect(window.admit(nowMillis: 0, rpm: 1, tpm: nil, tokens: 1) == nil)
        for t in stride(from: Int64(1), to: 59_000, by: 1_000) { #expect(window.admit(nowMillis: t, rpm: 1, tpm: nil, tokens: 1) != nil) }
        #expect(window.admit(nowMillis: 60_000, rpm: 1, tpm: nil, tokens: 1) == nil)
    }

    @Test func tokensPerMinute() {
        var window = RateWindow()
        #expect(window.admit(nowMillis: 0, rpm: 100, tpm: 1_000, tokens: 600) == nil)
        #expect(window.admit(nowMillis: 1_000, rpm: 100, tpm: 1_000, tokens: 300) == nil)
        #expect(window.admit(nowMillis: 2_000, rpm: 100, tpm: 1_000, tokens: 200) == 58, "fits once the first 600 leave")
        #expect(window.admit(nowMillis: 2_000, rpm: 100, tpm: 1_000, tokens: 2_000) == 60, "never fits: a full window")
        #expect(window.admit(nowMillis: 60_000, rpm: 100, tpm: 1_000, tokens: 200) == nil)
    }

    @Test func aWithdrawnAdmissionGivesItsRequestAndTokensBack() {
        var window = RateWindow()
        #expect(window.admit(nowMillis: 0, rpm: 2, tpm: 1_000, tokens: 600) == nil)
        #expect(window.admit(nowMillis: 1_000, rpm: 2, tpm: 1_000, tokens: 300) == nil)
        #expect(window.admit(nowMillis: 2_000, rpm: 2, tpm: 1_000, tokens: 100) != nil, "full: two requests a minute")
        let first = window.withdraw(atMillis: 1_000, tokens: 300)
        let second = window.withdraw(atMillis: 1_000, tokens: 300)
        #expect(first)
        #expect(!second, "only once")
        #expect(window.admit(nowMillis: 2_000, rpm: 2, tpm: 1_000, tokens: 400) == nil, "the request and its 300 tokens are back")
        #expect(window.admit(nowMillis: 3_000, rpm: 3, tpm: 1_000, tokens: 1) == 57, "600 + 400 fill the token budget until the 600 leave")
    }

    @Test func theRegistryUndoesAnAdmissionWhoseCallNeverWentOut() {
        let agent = Agent(
            id: 7, name: "bot", state: .active, budget: MicroUSD(1_000), spent: .zero, reserved: .zero, rpm: 1, tpm: nil,
            policy: .default, tokenSHA256: String(repeating: "0", count: 64), tokenPrefix: "aex_xxxxxxxx", tokenExpiresAtMicros: nil,
            tokenTTLSeconds: nil, createdAtMicros: 0)
        let registry = AgentRegistry(agents: [agent])
        #expect(registry.admit(agentID: 7, name: "bot", amount: MicroUSD(900), tokens: 10, nowMillis: 5) == .admitted)
        #expect(registry.admit(agentID: 7, name: "bot", amount: MicroUSD(50), tokens: 10, nowMillis: 6) == .rateLimited(retryAfterSeconds: 60))
        registry.withdraw(agentID: 7, name: "bot", reserved: MicroUSD(900), tokens: 10, admittedAtMillis: 5)
        #expect(registry.admit(agentID: 7, name: "bot", amount: MicroUSD(1_000), tokens: 10, nowMillis: 7) == .admitted,
                "the whole budget and the one request a minute are free again")
    }
}
