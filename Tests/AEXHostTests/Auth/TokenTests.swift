import Testing
@testable import AEXHost

@Suite struct TokenTests {
    @Test func agentTokensHaveTheSpecifiedShape() {
        let token = Token.newAgentToken()
        #expect(token.hasPrefix("aex_"))
        #expect(token.count == 4 + Token.randomLength)
        #expect(token.dropFirst(4).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        #expect(Token.shape(token) == .agent)
        #expect(Token.shape(Token.newAdminToken()) == .admin)
    }

    @Test func tokensAreUnique() {
        let tokens = Set((0..<2_000).map { _ in Token.newAgentToken() })
        #expect(tokens.count == 2_000)
    }

    @Test(arguments: ["", "aex_", "aex_short", "bearer", "aex_" + String(repeating: "a", count: 39),
                      "aex_" + String(repeating: "a", count: 40) + "!", "aexadmin_xyz", "sk-" + String(repeating: "a", count: 48)])
    func malformedTokensAreRecognised(token: String) {
        #expect(Token.shape(token) == .malformed)
    }

    @Test func digestIsSHA256Hex() {
        // Known answer: SHA-256("abc").
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Token.digestHex("abc") == SHA256.hex("abc"))
    }

    @Test func constantTimeEquality() {
        #expect(ConstantTime.equal("same", "same"))
        #expect(!ConstantTime.equal("same", "samf"))
        #expect(!ConstantTime.equal("same", "same-but-longer"))
    }
}
