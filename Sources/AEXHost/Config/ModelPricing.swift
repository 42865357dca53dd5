/// A model's prices in one exact integer unit: micro-USD per million tokens.
///
/// Both configuration forms land here without floating point: `input_micro: 50` (micro-USD per
/// token) is 50 × 1,000,000; `input_usd_per_mtok: "0.05"` (US dollars per million tokens, at most 6
/// decimals) is 50,000.
public struct ModelPricing: Sendable, Equatable {
    public var inputMicroPerMillionTokens: Int64
    public var outputMicroPerMillionTokens: Int64

    public static let tokensPerMillion: Int64 = 1_000_000

    public init(inputMicroPerMillionTokens: Int64, outputMicroPerMillionTokens: Int64) {
        self.inputMicroPerMillionTokens = inputMicroPerMillionTokens
        self.outputMicroPerMillionTokens = outputMicroPerMillionTokens
    }

    /// ceil(prompt × input / 1e6) + ceil(completion × output / 1e6) micro-USD, computed with a
    /// 128-bit intermediate. A result past `Int64` throws `.overflow`; a negative token count (or a
    /// negative price, which validation never produces) throws `.negative`.
    public func cost(promptTokens: Int64, completionTokens: Int64) throws(MoneyError) -> MicroUSD {
        let input = try Self.ceilingCost(tokens: promptTokens, microPerMillion: inputMicroPerMillionTokens)
        let output = try Self.ceilingCost(tokens: completionTokens, microPerMillion: outputMicroPerMillionTokens)
        return try input.adding(output)
    }

    /// ceil(tokens × microPerMillion / 1,000,000) in micro-USD.
    public static func ceilingCost(tokens: Int64, microPerMillion: Int64) throws(MoneyError) -> MicroUSD {
        guard tokens >= 0, microPerMillion >= 0 else { throw .negative }
        let product = UInt64(tokens).multipliedFullWidth(by: UInt64(microPerMillion))
        let divisor = UInt64(tokensPerMillion)
        // dividingFullWidth traps when the quotient does not fit in 64 bits, i.e. when high ≥ divisor.
        guard product.high < divisor else { throw .overflow }
        let (quotient, remainder) = divisor.dividingFullWidth(product)
        let (rounded, carry) = quotient.addingReportingOverflow(remainder > 0 ? 1 : 0)
        guard !carry, rounded <= UInt64(Int64.max) else { throw .overflow }
        return MicroUSD(Int64(rounded))
    }
}

// MARK: - Validation

extension ModelPricing {
    static let keys = ["input_micro", "output_micro", "input_usd_per_mtok", "output_usd_per_mtok"]

    /// Validates the `pricing` mapping of model `alias`; `keyMark` is where its `pricing` key is.
    static func validate(
        _ node: YAMLNode, keyMark: YAMLNode.Mark, alias: String, file: String
    ) throws(YAMLError) -> ModelPricing {
        let context = "pricing of model '\(alias)'"
        let fields = try node.keyedMapping(context, allowed: keys, file: file)
        let input = try direction("input", fields, keyMark: keyMark, context: context, file: file)
        let output = try direction("output", fields, keyMark: keyMark, context: context, file: file)
        return ModelPricing(inputMicroPerMillionTokens: input, outputMicroPerMillionTokens: output)
    }

    /// One direction's price, given exactly one way.
    private static func direction(
        _ name: String, _ fields: [String: (keyMark: YAMLNode.Mark, value: YAMLNode)], keyMark: YAMLNode.Mark,
        context: String, file: String
    ) throws(YAMLError) -> Int64 {
        let microKey = "\(name)_micro", decimalKey = "\(name)_usd_per_mtok"
        switch (fields[microKey], fields[decimalKey]) {
        case (nil, nil):
            throw YAMLError(file: file, at: keyMark, "\(context) needs \(microKey) or \(decimalKey)")
        case let (micro?, decimal?):
            let later = micro.keyMark.line > decimal.keyMark.line
                || (micro.keyMark.line == decimal.keyMark.line && micro.keyMark.column > decimal.keyMark.column)
                ? micro.keyMark : decimal.keyMark
            throw YAMLError(
                file: file, at: later, "\(context) gives both \(microKey) and \(decimalKey); give only one")
        case let (micro?, nil):
            return try microPerToken(micro.value, what: "\(microKey) of \(context)", file: file)
        case let (nil, decimal?):
            return try usdPerMillion(decimal.value, what: "\(decimalKey) of \(context)", file: file)
        }
    }

    /// `50` micro-USD per token → 50,000,000 micro-USD per million tokens.
    static func microPerToken(_ node: YAMLNode, what: String, file: String) throws(YAMLError) -> Int64 {
        if case .scalar(let text, quoted: false, _) = node, text.unicodeScalars.contains(".") {
            throw YAMLError(
                file: file, at: node.mark,
                "\(what) must be a whole number of micro-USD per token, found '\(text)'; use a *_usd_per_mtok key for fractions")
        }
        let micro = try node.integer(what, file: file)
        guard micro >= 0 else { throw YAMLError(file: file, at: node.mark, "\(what) must not be negative") }
        let (scaled, overflow) = micro.multipliedReportingOverflow(by: tokensPerMillion)
        guard !overflow else { throw YAMLError(file: file, at: node.mark, "\(what) is too large") }
        return scaled
    }

    /// `"0.05"` US dollars per million tokens → 50,000 micro-USD per million tokens, exactly.
    static func usdPerMillion(_ node: YAMLNode, what: String, file: String) throws(YAMLError) -> Int64 {
        guard case .scalar(let text, _, _) = node, !node.isNull else {
            throw YAMLError(
                file: file, at: node.mark, "\(what) must be a decimal number such as \"0.05\", found \(node.kindDescription)")
        }
        do {
            return try MoneyFormat.parseUSD(text).value
        } catch {
            let reason: String
            switch error {
            case .negative: reason = "must not be negative"
            case .tooManyDecimals: reason = "has more than 6 decimals (the smallest unit is 1 micro-USD per million tokens): '\(text)'"
            case .overflow: reason = "is too large: '\(text)'"
            case .notANumber: reason = "must be a decimal number of US dollars per million tokens such as \"0.05\", found '\(text)'"
            }
            throw YAMLError(file: file, at: node.mark, "\(what) \(reason)")
        }
    }
}
