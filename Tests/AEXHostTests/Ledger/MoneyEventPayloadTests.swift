import Testing
@testable import AEXHost

/// The one encoder and the one decoder of the money events' payloads agree, and what the encoder
/// writes is canonical JSON (what the hash chain is computed over).
@Suite struct MoneyEventPayloadTests {
    static let payloads: [(LedgerEventType, MoneyEventPayload)] = [
        (.reservation, .reservation(.init(amount: MicroUSD(334), completionTokensBound: 100, endpoint: "chat/completions", model: "m",
                                          promptTokensBound: 17))),
        (.commit, .commit(.init(completionTokens: 5, cost: MicroUSD(35), estimated: false, promptTokens: 10, fault: nil, reason: nil,
                                reserved: MicroUSD(334)))),
        (.commit, .commit(.init(completionTokens: nil, cost: MicroUSD(334), estimated: true, promptTokens: nil, fault: nil,
                                reason: "client disconnected", reserved: MicroUSD(334)))),
        (.commit, .commit(.init(completionTokens: 1_124, cost: MicroUSD(5_454), estimated: false, promptTokens: 1_041,
                                fault: .init(kind: .aboveAllowed, reportedPromptTokens: Int64.max,
                                             reportedCompletionTokens: 500_000_000_000_000_000),
                                reason: nil, reserved: MicroUSD(334)))),
        (.release, .release(.init(reason: "provider answered 500", released: MicroUSD(334), status: 500))),
        (.recovery, .recovery(.init(amount: MicroUSD(9), charged: true, reason: "reservation left open by a process that stopped"))),
        (.recovery, .recovery(.init(amount: MicroUSD(9), charged: false, reason: "x"))),
        (.commit, .commit(.init(completionTokens: 5, cost: MicroUSD(35), estimated: false, promptTokens: 10, fault: nil, reason: nil,
                                reserved: MicroUSD(334), responseSHA256: String(repeating: "ab", count: 32)))),
    ]

    @Test func everyPayloadRoundTripsAndIsCanonical() throws {
        for (type, payload) in Self.payloads {
            let bytes = payload.encoded()
            let decoded = try MoneyEventPayload.decode(type: type, bytes)
            #expect(decoded == payload, "\(String(decoding: bytes, as: UTF8.self))")
            let canonical = try JSONReader.parse(bytes).canonicalText
            #expect(canonical == String(decoding: bytes, as: UTF8.self))
        }
    }

    @Test func balanceChangesFollowThePayloads() {
        let changes = Self.payloads.map(\.1.balanceChange)
        #expect(changes[0] == BalanceChange(spentMicro: 0, reservedMicro: 334))
        #expect(changes[1] == BalanceChange(spentMicro: 35, reservedMicro: -334))
        #expect(changes[4] == BalanceChange(spentMicro: 0, reservedMicro: -334))
        #expect(changes[5] == BalanceChange(spentMicro: 9, reservedMicro: -9))
        #expect(changes[6] == BalanceChange(spentMicro: 0, reservedMicro: -9))
    }

    @Test func malformedMoneyIsRefusedAndOtherEventsMoveNothing() throws {
        var refused = 0
        for text in [#"{"cost_micro":-1,"reserved_micro":1}"#, #"{"cost_micro":1.5,"reserved_micro":1}"#, "[]", "{"] {
            do { _ = try MoneyEventPayload.decode(type: .commit, Array(text.utf8)) } catch { refused += 1 }
        }
        #expect(refused == 4)
        let other = try MoneyEventPayload.decode(type: .denial, Array(#"{"code":"x"}"#.utf8))
        #expect(other == nil)
    }
}
