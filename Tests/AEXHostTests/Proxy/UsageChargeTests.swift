import Testing
@testable import AEXHost

/// Provider-reported usage is untrusted input: what is charged for it, and when it is a fault.
@Suite struct UsageChargeTests {
    let pricing = ModelPricing(inputMicroPerMillionTokens: 2_000_000, outputMicroPerMillionTokens: 3_000_000)

    func charge(_ prompt: Int64?, _ completion: Int64?, reserved: Int64 = 2 * 100 + 3 * 50) -> UsageCharge.Charge {
        UsageCharge.charge(pricing: pricing, reserved: MicroUSD(reserved), promptBound: 100, completionBound: 50,
                           prompt: prompt, completion: completion)
    }

    @Test func usageWithinTheBoundsIsChargedExactly() {
        let exact = charge(10, 5)
        #expect(exact == UsageCharge.Charge(cost: MicroUSD(35), promptTokens: 10, completionTokens: 5, estimated: false, fault: nil))
        // Within the tolerance: charged as reported, an overdraft the ledger records.
        let over = charge(100, 50 + 1_024)
        #expect(over.cost == MicroUSD(200 + 3 * 1_074) && over.fault == nil)
    }

    @Test func missingUsageIsChargedAtTheReservation() {
        #expect(charge(nil, 5) == UsageCharge.Charge(cost: MicroUSD(350), promptTokens: nil, completionTokens: 5, estimated: true, fault: nil))
    }

    @Test func impossibleUsageIsAFaultWithABoundedOverdraft() {
        let huge = charge(500_000_000_000_000_000, 500_000_000_000_000_000)
        #expect(huge.fault?.reportedPromptTokens == 500_000_000_000_000_000)
        #expect(huge.promptTokens == UsageCharge.allowed(100) && huge.completionTokens == UsageCharge.allowed(50))
        #expect(huge.cost == MicroUSD(2 * (100 + 1_024) + 3 * (50 + 1_024)), "cut to the allowed counts")
        let maximal = charge(Int64.max, Int64.max)
        #expect(maximal.cost == huge.cost && maximal.fault != nil)
        let negative = charge(-1, 5)
        #expect(negative.cost == MicroUSD(350) && negative.estimated && negative.fault != nil)
        // A cost that cannot fit in micro-USD: a fault, never a wrap.
        let priceless = UsageCharge.charge(pricing: ModelPricing(inputMicroPerMillionTokens: Int64.max, outputMicroPerMillionTokens: Int64.max),
                                           reserved: MicroUSD(77), promptBound: 1 << 40, completionBound: 1 << 40, prompt: 1 << 40, completion: 1 << 40)
        #expect(priceless.cost == MicroUSD(77) && priceless.fault != nil && priceless.estimated)
    }

    @Test func theToleranceIsAQuarterOfTheBoundAndAtLeastItsMinimum() {
        #expect(UsageCharge.allowed(0) == 1_024)
        #expect(UsageCharge.allowed(40_000) == 50_000)
        #expect(UsageCharge.allowed(Int64.max) == Int64.max)
    }
}

@Suite struct RefusalSamplingTests {
    @Test func atMostSixtyRowsAMinuteAndTheRestAreCounted() {
        var sampler = AuthRefusalSampler()
        var recorded: [Int64] = []
        for i in 0..<10_000 { if let before = sampler.refusal(nowMillis: Int64(i)) { recorded.append(before) } }
        #expect(recorded.count == AuthRefusalSampler.rowsPerWindow)
        let nothingSkipped = recorded.allSatisfy { $0 == 0 }
        #expect(nothingSkipped)
        let carried = sampler.refusal(nowMillis: 60_000)
        #expect(carried == Optional(Int64(9_940)), "the next minute’s first row carries the count of the other 9,940")
        #expect(sampler.total == 10_001)
    }

    @Test func recordedEndpointsAreShortPrintableAndWithoutQuery() {
        let withoutQuery = AuthRefusalSampler.recordedEndpoint("/v1/chat/completions?x=1")
        let long = AuthRefusalSampler.recordedEndpoint("/v1/" + String(repeating: "a", count: 30_000))
        let printable = AuthRefusalSampler.recordedEndpoint("/v1/é\u{1}")
        #expect(withoutQuery == "/v1/chat/completions")
        #expect(long.utf8.count == 64)
        #expect(printable == "/v1/???")
    }
}

@Suite struct CredentialRedactorTests {
    func redact(_ text: String, key: String? = "sk-live-0123456789abcdef") -> String {
        String(decoding: CredentialRedactor.redact(Array(text.utf8), key: key), as: UTF8.self)
    }

    @Test func theKeyItsStartAndBearerValuesAreRedacted() {
        #expect(redact(#"{"error":{"message":"bad key sk-live-0123456789abcdef"}}"#) == #"{"error":{"message":"bad key [redacted]"}}"#)
        #expect(redact(#"{"error":{"message":"Incorrect API key provided: sk-live-***cdef."}}"#)
                == #"{"error":{"message":"Incorrect API key provided: [redacted]"}}"#)
        #expect(redact(#"{"error":{"message":"got Authorization: Bearer abc.def"}}"#, key: nil)
                == #"{"error":{"message":"got Authorization: Bearer [redacted]"}}"#)
        let clean = #"{"error":{"message":"rate limited","code":"x"}}"#
        #expect(redact(clean) == clean)
    }
}

@Suite struct StreamedTextTests {
    func bound(_ json: String) -> Int64 { StreamedText.tokensBound(Array(json.utf8)) }

    @Test func countsDeltaTextNotTheEnvelope() {
        let chunk = #"{"id":"chatcmpl-123456789","object":"chat.completion.chunk","created":1,"model":"some-long-model-name","choices":[{"index":0,"delta":{"content":"héllo"},"finish_reason":null}]}"#
        #expect(bound(chunk) == 6 + 1)
        #expect(bound(#"{"type":"response.output_text.delta","item_id":"msg_1","delta":"abc"}"#) == 3 + 1)
        #expect(bound(#"{"choices":[],"usage":{"prompt_tokens":1}}"#) == 0)
        #expect(bound("not json") == 8)
    }

    /// The one-pass measure agrees with the full parser wherever it answers, and leaves to it what
    /// it does not handle (`\u` escapes, non-ASCII, anything malformed).
    @Test func theOnePassMeasureAgreesWithTheParser() {
        func fast(_ text: String) -> Int64? { Array(text.utf8).withUnsafeBytes { DeltaText.bound($0) } }
        var generator = SeededGenerator(seed: 0xDE17A)
        let pieces = ["a", "bc", " ", "\\n", "\\\"", "\\t", "x y", "\\/", "{}", "[1]", ":", ","]
        func text() -> String {
            (0..<Int(generator.next() % 5)).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }.joined()
        }
        func scalar() -> String {
            switch generator.next() % 6 {
            case 0: return "\"\(text())\""
            case 1: return "-12.5e+3"
            case 2: return "0"
            case 3: return "true"
            case 4: return "null"
            default: return "[\"\(text())\", 7, {\"k\": \"\(text())\"}]"
            }
        }
        func delta() -> String {
            switch generator.next() % 3 {
            case 0: return "\"\(text())\""
            case 1: return "{\"content\":\"\(text())\",\"role\":\"assistant\"}"
            default: return "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\(text())\",\"n\":1.5}}],\"delta\":\"\(text())\"}"
            }
        }
        var checked = 0
        for _ in 0..<2_000 {
            var members = ["\"id\":\"chatcmpl-\(generator.next() % 1000)\"", "\"x\": \(scalar())"]
            let choices = (0..<Int(generator.next() % 3)).map { index in
                generator.next() % 4 == 0 ? scalar() : "{\"index\":\(index),\"delta\":\(delta()),\"finish_reason\":null}"
            }
            if generator.next() % 2 == 0 { members.append("\"choices\": [\(choices.joined(separator: ","))]") }
            if generator.next() % 3 == 0 { members.append("\"delta\": \(delta())") }
            if generator.next() % 5 == 0 { members.append("\"usage\":{\"prompt_tokens\":3,\"delta\":\"\(text())\"}") }
            members.shuffle(using: &generator)
            let event = "{" + members.joined(separator: ",") + "}"
            let data = Array(event.utf8)
            let parsed = StreamedText.parsedBound(data)
            if let measured = fast(event) {
                #expect(measured == parsed, "\(event)")
                checked += 1
            } else {
                Issue.record("the one-pass measure gave up on \(event)")
            }
            // Malformed at any cut: the one-pass measure refuses, the parser counts it all.
            let cut = Int(generator.next() % UInt64(data.count))
            if let measured = Array(data[..<cut]).withUnsafeBytes({ DeltaText.bound($0) }) {
                Issue.record("measured \(measured) for the malformed \(String(decoding: data[..<cut], as: UTF8.self))")
            }
        }
        #expect(checked == 2_000)
        #expect(fast(#"{"delta":"\u00e9"}"#) == nil && fast(#"{"delta":"é"}"#) == nil)
        #expect(bound(#"{"delta":"\u00e9"}"#) == 2 + 1 && bound(#"{"delta":"é"}"#) == 2 + 1)
        #expect(fast(#"{"delta":"a\u0001"}"#) == nil && fast("{\"delta\":\"\u{01}\"}") == nil)
        #expect(fast(#"{"delta":01}"#) == nil && fast(#"{"delta":1.}"#) == nil && fast(#"{"a":1}x"#) == nil)
        #expect(fast(#"[{"delta":"abc"}]"#) == nil && bound(#"[{"delta":"abc"}]"#) == 17)
        // Long strings, scanned eight bytes at a time: an escape, a quote, a control byte or UTF-8
        // at every position is still found.
        for at in 0..<24 {
            let before = String(repeating: "a", count: at), after = String(repeating: "b", count: 23 - at)
            #expect(fast(#"{"delta":""# + before + #"\n"# + after + #""}"#) == Int64(24 + 1), "escape at \(at)")
            #expect(fast(#"{"delta":""# + before + #"","x":""# + after + #""}"#) == Int64(at + 1), "quote at \(at)")
            #expect(fast(#"{"delta":""# + before + "é" + after + #""}"#) == nil, "UTF-8 at \(at)")
            #expect(fast(#"{"delta":""# + before + "\u{7}" + after + #""}"#) == nil, "control byte at \(at)")
        }
        // A key given twice: both count (the parser refuses it and counts everything).
        #expect(fast(#"{"delta":"ab","delta":"cde"}"#) == Int64(2 + 3 + 2))
    }
}

@Suite struct RateAndBudgetOrderTests {
    func registry(budget: Int64, rpm: Int64, tpm: Int64? = nil) -> AgentRegistry {
        AgentRegistry(agents: [Agent(
            id: 1, name: "bot", state: .active, budget: MicroUSD(budget), spent: .zero, reserved: .zero, rpm: rpm, tpm: tpm,
            policy: .default, tokenSHA256: String(repeating: "0", count: 64), tokenPrefix: "aex_xxxxxxxx", tokenExpiresAtMicros: nil,
            tokenTTLSeconds: nil, createdAtMicros: 0)])
    }

    @Test func theRateLimitIsCheckedBeforeTheBudget() {
        let agents = registry(budget: 100, rpm: 1)
        #expect(agents.admit(agentID: 1, name: "bot", amount: MicroUSD(60), tokens: 1, nowMillis: 0) == .admitted)
        // Both would refuse: the rate limit answers.
        #expect(agents.admit(agentID: 1, name: "bot", amount: MicroUSD(60), tokens: 1, nowMillis: 1) == .rateLimited(retryAfterSeconds: 60))
        // A budget refusal uses no rate capacity.
        let fresh = registry(budget: 10, rpm: 1)
        #expect(fresh.admit(agentID: 1, name: "bot", amount: MicroUSD(60), tokens: 1, nowMillis: 0) == .budgetExceeded(remaining: MicroUSD(10)))
        #expect(fresh.admit(agentID: 1, name: "bot", amount: MicroUSD(10), tokens: 1, nowMillis: 1) == .admitted)
    }

    @Test func settlementCorrectsTheTokensPerMinuteUpwardsAndDown() {
        let agents = registry(budget: 1_000_000, rpm: 100, tpm: 500)
        #expect(agents.admit(agentID: 1, name: "bot", amount: MicroUSD(1), tokens: 20, nowMillis: 0) == .admitted)
        agents.settle(agentID: 1, name: "bot", reserved: MicroUSD(1), cost: MicroUSD(1), admission: (0, 20), usedTokens: 510)
        #expect(agents.admit(agentID: 1, name: "bot", amount: MicroUSD(1), tokens: 20, nowMillis: 1_000) == .rateLimited(retryAfterSeconds: 59))
        let other = registry(budget: 1_000_000, rpm: 100, tpm: 500)
        #expect(other.admit(agentID: 1, name: "bot", amount: MicroUSD(1), tokens: 400, nowMillis: 0) == .admitted)
        other.settle(agentID: 1, name: "bot", reserved: MicroUSD(1), cost: .zero, admission: (0, 400), usedTokens: 30)
        #expect(other.admit(agentID: 1, name: "bot", amount: MicroUSD(1), tokens: 400, nowMillis: 1) == .admitted, "down to what was used")
    }

    @Test func spentNeverWraps() {
        let agents = AgentRegistry(agents: [Agent(
            id: 1, name: "bot", state: .active, budget: MicroUSD(Int64.max), spent: MicroUSD(Int64.max - 10), reserved: .zero, rpm: 10, tpm: nil,
            policy: .default, tokenSHA256: String(repeating: "0", count: 64), tokenPrefix: "aex_xxxxxxxx", tokenExpiresAtMicros: nil,
            tokenTTLSeconds: nil, createdAtMicros: 0)])
        #expect(agents.admit(agentID: 1, name: "bot", amount: MicroUSD(5), tokens: 1, nowMillis: 0) == .admitted)
        let settled = agents.settle(agentID: 1, name: "bot", reserved: MicroUSD(5), cost: MicroUSD(1_000))
        #expect(settled?.cost == MicroUSD(10))
        #expect(agents.agent(named: "bot")?.spent == MicroUSD(Int64.max))
    }
}
