/// What an answered call is charged, from the usage the provider reported: untrusted input. Pure.
///
/// - Usage within the call's bounds (plus `tolerance`) is charged as reported, exactly; a cost
///   above the reservation is an overdraft the ledger records (the agent is then refused until
///   topped up).
/// - Usage that is impossible — a count above what the request allowed by more than the
///   tolerance, a negative count, or a cost that does not fit in micro-USD — is a provider fault:
///   recorded with the reported counts, and charged for the counts cut to the allowed ones (at
///   least the reservation). So an overdraft is never more than the cost of the tolerance's extra
///   tokens each way, and money never overflows.
/// - Usage not reported (or reported negative) is charged at the reservation, marked estimated.
public enum UsageCharge {
    public struct Charge: Sendable, Equatable {
        public var cost: MicroUSD
        public var promptTokens: Int64?
        public var completionTokens: Int64?
        public var estimated: Bool
        public var fault: ExecutionLedger.ProviderFault?
    }

    /// Tokens a provider may report above a bound before the report counts as impossible: a
    /// quarter of the bound, and at least `toleranceTokensMin` (formatting tokens, images and
    /// special tokens the prompt bound does not see).
    public static let toleranceTokensMin: Int64 = 1_024

    public static func allowed(_ bound: Int64) -> Int64 {
        let bound = max(bound, 0)
        let (sum, overflow) = bound.addingReportingOverflow(max(bound / 4, toleranceTokensMin))
        return overflow ? Int64.max : sum
    }

    /// The charge for a call reserved at `reserved` for `promptBound` + `completionBound` tokens,
    /// whose provider reported `prompt` and `completion` (nil: not reported).
    public static func charge(pricing: ModelPricing, reserved: MicroUSD, promptBound: Int64, completionBound: Int64,
                              prompt: Int64?, completion: Int64?) -> Charge {
        let result = unchecked(pricing: pricing, reserved: reserved, promptBound: promptBound, completionBound: completionBound,
                               prompt: prompt, completion: completion)
        assert(result.cost.value >= 0, "a negative charge")
        assert(result.estimated || (result.promptTokens ?? 0) <= allowed(promptBound) && (result.completionTokens ?? 0) <= allowed(completionBound),
               "counts charged beyond the allowed ones")
        return result
    }

    private static func unchecked(pricing: ModelPricing, reserved: MicroUSD, promptBound: Int64, completionBound: Int64,
                                  prompt: Int64?, completion: Int64?) -> Charge {
        guard let prompt, let completion else {
            return Charge(cost: reserved, promptTokens: prompt, completionTokens: completion, estimated: true, fault: nil)
        }
        if prompt < 0 || completion < 0 {
            return Charge(cost: reserved, promptTokens: nil, completionTokens: nil, estimated: true,
                          fault: .init(kind: .negativeCount, reportedPromptTokens: prompt, reportedCompletionTokens: completion))
        }
        let (promptAllowed, completionAllowed) = (allowed(promptBound), allowed(completionBound))
        if prompt <= promptAllowed, completion <= completionAllowed,
           let cost = try? pricing.cost(promptTokens: prompt, completionTokens: completion) {
            return Charge(cost: cost, promptTokens: prompt, completionTokens: completion, estimated: false, fault: nil)
        }
        let fault = ExecutionLedger.ProviderFault(
            kind: .aboveAllowed, reportedPromptTokens: prompt, reportedCompletionTokens: completion)
        let (chargedPrompt, chargedCompletion) = (min(prompt, promptAllowed), min(completion, completionAllowed))
        guard let cost = try? pricing.cost(promptTokens: chargedPrompt, completionTokens: chargedCompletion) else {
            return Charge(cost: reserved, promptTokens: nil, completionTokens: nil, estimated: true, fault: fault)
        }
        return Charge(cost: max(cost, reserved), promptTokens: chargedPrompt, completionTokens: chargedCompletion, estimated: false, fault: fault)
    }
}
