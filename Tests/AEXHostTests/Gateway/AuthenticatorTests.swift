import Testing
@testable import AEXHost

@Suite struct AuthenticatorTests {
    @Test func bearerParsing() {
        #expect(Authenticator.bearerToken("Bearer abc") == "abc")
        #expect(Authenticator.bearerToken("bearer   abc ") == "abc")
        #expect(Authenticator.bearerToken("Basic abc") == nil)
        #expect(Authenticator.bearerToken("Bearer") == nil)
        #expect(Authenticator.bearerToken(nil) == nil)
        #expect(Authenticator.bearerToken("BEARER\tabc") == "abc")
        #expect(Authenticator.bearerToken("  Bearer abc") == "abc")
        #expect(Authenticator.bearerToken("Bearerabc") == nil)
        #expect(Authenticator.bearerToken("Bearer \t ") == nil)
        #expect(Authenticator.bearerToken("Bear") == nil)
        #expect(Authenticator.bearerToken("Bearer a b") == "a b", "the rest is the token; its shape is checked later")
    }

    @Test func authenticatorSeparatesScopesAndHonoursExpiry() {
        let admin = Token.newAdminToken()
        let agentToken = Token.newAgentToken()
        let agent = Agent(
            id: 1, name: "bot", state: .active, budget: MicroUSD(10), spent: .zero, reserved: .zero, rpm: 5, tpm: nil,
            policy: .default, tokenSHA256: Token.digestHex(agentToken), tokenPrefix: Token.displayPrefix(agentToken),
            tokenExpiresAtMicros: 1_000, tokenTTLSeconds: nil, createdAtMicros: 0)
        let registry = AgentRegistry(agents: [agent])
        let auth = Authenticator(adminToken: admin, registry: registry)

        #expect(auth.authenticateAdmin(authorization: "Bearer \(admin)") == nil)
        #expect(auth.authenticateAdmin(authorization: nil) == .missing)
        #expect(auth.authenticateAdmin(authorization: "Bearer \(agentToken)") == .invalid)
        #expect(auth.authenticateAdmin(authorization: "Bearer \(Token.newAdminToken())") == .invalid)

        #expect(auth.authenticateAgent(authorization: "Bearer \(agentToken)", nowMicros: 999) == .success(Caller(agent: agent, expiresAtMicros: 1_000)))
        #expect(auth.authenticateAgent(authorization: "Bearer \(agentToken)", nowMicros: 1_000) == .failure(.expired))
        #expect(auth.authenticateAgent(authorization: "Bearer \(admin)", nowMicros: 0) == .failure(.invalid))
        #expect(auth.authenticateAgent(authorization: "Token \(agentToken)", nowMicros: 0) == .failure(.missing))
        // Same prefix, different secret: found by prefix, refused by digest.
        let forged = Token.displayPrefix(agentToken) + String(repeating: "Z", count: agentToken.count - Token.prefixLength)
        #expect(auth.authenticateAgent(authorization: "Bearer \(forged)", nowMicros: 0) == .failure(.invalid))

        // A run's token: the agent and the run, with the run's own expiry (`--ttl`).
        let runToken = Token.newAgentToken()
        registry.putRun(RunCredential(runID: "run_a", agentID: 1, agentName: "bot", tokenSHA256: Token.digestHex(runToken),
                                      tokenPrefix: Token.displayPrefix(runToken), expiresAtMicros: 2_000, cap: nil))
        #expect(auth.authenticateAgent(authorization: "Bearer \(runToken)", nowMicros: 1_500)
            == .success(Caller(agent: agent, runID: "run_a", expiresAtMicros: 2_000)))
        #expect(auth.authenticateAgent(authorization: "Bearer \(runToken)", nowMicros: 2_000) == .failure(.expired))
        registry.removeRun("run_a")
        #expect(auth.authenticateAgent(authorization: "Bearer \(runToken)", nowMicros: 0) == .failure(.invalid))
    }
}
