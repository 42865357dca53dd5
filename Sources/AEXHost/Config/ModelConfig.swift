/// One model alias from `models.yaml`: the name clients use, the provider that serves it, the
/// provider's own model name, prices, output limit and capabilities.
public struct ModelConfig: Sendable, Equatable {
    /// The name clients send as `model`.
    public var alias: String
    /// The name of a declared provider.
    public var provider: String
    /// The model name sent upstream.
    public var providerModel: String
    public var pricing: ModelPricing
    /// `limits.max_tokens`: 1...10,000,000.
    public var maxTokens: Int64
    public var capabilities: ModelCapabilities

    public static let maxTokensRange: ClosedRange<Int64> = 1...10_000_000

    public init(
        alias: String, provider: String, providerModel: String, pricing: ModelPricing, maxTokens: Int64,
        capabilities: ModelCapabilities = .defaults
    ) {
        self.alias = alias
        self.provider = provider
        self.providerModel = providerModel
        self.pricing = pricing
        self.maxTokens = maxTokens
        self.capabilities = capabilities
    }
}

// MARK: - Validation

extension ModelConfig {
    static let keys = ["provider", "provider_model", "pricing", "limits", "capabilities"]
    static let limitKeys = ["max_tokens"]

    /// Validates the mapping of model `alias` (declared at `aliasMark`) against the known providers.
    static func validate(
        alias: String, aliasMark: YAMLNode.Mark, _ node: YAMLNode, providers: [String: ProviderConfig], file: String
    ) throws(YAMLError) -> ModelConfig {
        try ModelsConfig.checkName(alias, kind: "model", at: aliasMark, file: file)
        let context = "model '\(alias)'"
        let fields = try node.keyedMapping(context, allowed: keys, file: file)
        func required(_ key: String) throws(YAMLError) -> YAMLNode {
            guard let field = fields[key] else {
                throw YAMLError(file: file, at: aliasMark, "missing required key '\(key)' in \(context)")
            }
            return field.value
        }

        let providerNode = try required("provider")
        let provider = try providerNode.string("provider of \(context)", file: file)
        guard providers[provider] != nil else {
            let known = providers.isEmpty ? "none are declared" : providers.keys.sorted().joined(separator: ", ")
            throw YAMLError(
                file: file, at: providerNode.mark,
                "unknown provider '\(provider)' for \(context) (declared providers: \(known))")
        }

        let providerModel = try required("provider_model").string("provider_model of \(context)", file: file)
        let pricingNode = try required("pricing")
        let pricing = try ModelPricing.validate(
            pricingNode, keyMark: fields["pricing"]?.keyMark ?? aliasMark, alias: alias, file: file)

        let limitsContext = "limits of \(context)"
        let limitsNode = try required("limits")
        let limits = try limitsNode.keyedMapping(limitsContext, allowed: limitKeys, file: file)
        guard let maxTokensField = limits["max_tokens"] else {
            throw YAMLError(file: file, at: limitsNode.mark, "missing required key 'max_tokens' in \(limitsContext)")
        }
        let maxTokens = try maxTokensField.value.integer("max_tokens in \(limitsContext)", in: maxTokensRange, file: file)

        let capabilities = try ModelCapabilities.validate(fields["capabilities"]?.value, alias: alias, file: file)
        return ModelConfig(
            alias: alias, provider: provider, providerModel: providerModel, pricing: pricing, maxTokens: maxTokens,
            capabilities: capabilities)
    }
}
