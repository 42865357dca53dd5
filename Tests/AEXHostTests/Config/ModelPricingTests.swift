import Testing
@testable import AEXHost

@Suite struct ConfigModelPricingTests {
    private func pricing(_ body: String) throws -> ModelPricing {
        let text = """
            version: 1
            providers:
              p:
                base_url: local://p
                type: echo
            models:
              m:
                provider: p
                provider_model: m
                pricing:
            \(body)
                limits:
                  max_tokens: 10
            """
        let config = try ModelsConfig.parse(text, file: "m.yaml", providerTypes: ["echo"])
        return try #require(config.models["m"]).pricing
    }

    @Test(arguments: [
        ("input_micro: 50", 50_000_000), ("input_usd_per_mtok: \"0.05\"", 50_000),
        ("input_usd_per_mtok: 0.05", 50_000), ("input_usd_per_mtok: \"0.60\"", 600_000),
        ("input_usd_per_mtok: '0.15'", 150_000), ("input_usd_per_mtok: 15", 15_000_000),
        ("input_usd_per_mtok: 0.000001", 1), ("input_micro: 0", 0), ("input_usd_per_mtok: \"0\"", 0),
        ("input_micro: 9223372036854", 9_223_372_036_854_000_000),
        ("input_usd_per_mtok: 9223372036854.775807", Int64.max),
    ] as [(String, Int64)])
    func convertsBothFormsToMicroPerMillion(input: String, expected: Int64) throws {
        let result = try pricing("      \(input)\n      output_micro: 1")
        #expect(result.inputMicroPerMillionTokens == expected)
        #expect(result.outputMicroPerMillionTokens == 1_000_000)
    }

    @Test func costRoundsEachDirectionUp() throws {
        let cheap = ModelPricing(inputMicroPerMillionTokens: 50_000, outputMicroPerMillionTokens: 80_000)
        #expect(try cheap.cost(promptTokens: 3, completionTokens: 0) == MicroUSD(1))
        #expect(try cheap.cost(promptTokens: 3, completionTokens: 3) == MicroUSD(2))
        #expect(try cheap.cost(promptTokens: 0, completionTokens: 0) == MicroUSD(0))
        #expect(try cheap.cost(promptTokens: 20, completionTokens: 0) == MicroUSD(1))
        #expect(try cheap.cost(promptTokens: 21, completionTokens: 0) == MicroUSD(2))
        #expect(try cheap.cost(promptTokens: 1_000_000, completionTokens: 1_000_000) == MicroUSD(130_000))

        let micro = ModelPricing(inputMicroPerMillionTokens: 50_000_000, outputMicroPerMillionTokens: 100_000_000)
        #expect(try micro.cost(promptTokens: 1_000_000, completionTokens: 0) == MicroUSD(50_000_000))
        #expect(try micro.cost(promptTokens: 1, completionTokens: 1) == MicroUSD(150))
        #expect(try micro.cost(promptTokens: 1_000, completionTokens: 500) == MicroUSD(100_000))

        let free = ModelPricing(inputMicroPerMillionTokens: 0, outputMicroPerMillionTokens: 0)
        #expect(try free.cost(promptTokens: Int64.max, completionTokens: Int64.max) == MicroUSD(0))
    }

    @Test func costUsesAWideIntermediate() throws {
        // Int64.max tokens at 1 micro per million tokens: the product fits only in 128 bits.
        let tiny = ModelPricing(inputMicroPerMillionTokens: 1, outputMicroPerMillionTokens: 1)
        #expect(try tiny.cost(promptTokens: Int64.max, completionTokens: 0) == MicroUSD(Int64.max / 1_000_000 + 1))
        // 1e12 tokens at 1e12 micro per million: product 1e24 overflows 64 bits, result 1e18 fits.
        let big = ModelPricing(inputMicroPerMillionTokens: 1_000_000_000_000, outputMicroPerMillionTokens: 0)
        #expect(try big.cost(promptTokens: 1_000_000_000_000, completionTokens: 0) == MicroUSD(1_000_000_000_000_000_000))
    }

    @Test func costOverflowAndNegativeTokensThrow() {
        let micro = ModelPricing(inputMicroPerMillionTokens: 50_000_000, outputMicroPerMillionTokens: 100_000_000)
        #expect(throws: MoneyError.overflow) { try micro.cost(promptTokens: Int64.max, completionTokens: 0) }
        #expect(throws: MoneyError.overflow) { try micro.cost(promptTokens: 0, completionTokens: Int64.max) }
        let maxed = ModelPricing(inputMicroPerMillionTokens: Int64.max, outputMicroPerMillionTokens: Int64.max)
        #expect(throws: MoneyError.overflow) { try maxed.cost(promptTokens: Int64.max, completionTokens: Int64.max) }
        // Each half fits; their sum does not.
        let half = ModelPricing(inputMicroPerMillionTokens: 1_000_000, outputMicroPerMillionTokens: 1_000_000)
        #expect(throws: MoneyError.overflow) { try half.cost(promptTokens: Int64.max, completionTokens: 1) }
        #expect(throws: MoneyError.negative) { try micro.cost(promptTokens: -1, completionTokens: 0) }
        #expect(throws: MoneyError.negative) { try micro.cost(promptTokens: 0, completionTokens: -1) }
    }
}
