/// A request that passed validation, model, capability and policy checks: everything needed to
/// reserve, call the provider and settle. Produced by `CallPolicy.plan`, a pure function.
public struct CallPlan: Sendable {
    public var endpoint: Endpoint
    public var alias: String
    public var model: ModelConfig
    public var provider: ProviderConfig
    public var request: CallRequest
    /// Output tokens one choice may produce: the request's largest limit, or the limit AEX adds
    /// upstream when the request named none (0 for embeddings).
    public var outputTokensPerChoice: Int64
    /// Whether AEX must add an output limit upstream (the request named none).
    public var addsOutputLimit: Bool
    /// The key the host adds; nil for local providers.
    public var apiKey: String?

    /// Output-token bound used for the reservation: every choice at its limit. Cannot overflow:
    /// the limit is at most `CallPolicy.outputTokensMax` and the choices at most `CallRequest.choicesMax`.
    public var completionTokensBound: Int64 { outputTokensPerChoice * request.choices }

    /// Tokens the call counts against the agent's tokens-per-minute limit: its prompt and output bounds.
    public var admittedTokens: Int64 { request.promptTokensBound &+ completionTokensBound }
}

/// Admission up to (not including) the rate limit and budget, in SPEC §9 order. Pure.
public enum CallPolicy {
    public static let passthroughHeader = "x-aex-provider-key"

    public static func plan(
        endpoint: Endpoint, body: [UInt8], passthroughKey: String?, agent: Agent, catalog: ModelCatalog.Snapshot
    ) throws(CallRefusal) -> CallPlan {
        if agent.policy.readOnly { throw CallRefusal(403, "read_only_token", "this agent's token is read-only") }
        if agent.state == .paused { throw CallRefusal(423, "agent_paused", "agent '\(agent.name)' is paused") }
        let request: CallRequest
        do {
            request = try RequestInspector.inspect(endpoint, body: body)
        } catch {
            throw CallRefusal(400, "invalid_request", error.message)
        }
        guard let alias = request.model ?? catalog.config.defaultModel else {
            throw CallRefusal(400, "invalid_request", "'model' is required")
        }
        guard let model = catalog.config.models[alias], agent.policy.models?.contains(alias) ?? true,
              let provider = catalog.config.providers[model.provider]
        else { throw CallRefusal(403, "model_not_allowed", "model '\(alias)' is not available to this agent") }

        let capabilities = model.capabilities
        if endpoint == .embeddings, !capabilities.embeddings {
            throw CallRefusal(400, "unsupported_capability", "model '\(alias)' does not do embeddings")
        }
        if request.usesTools, !capabilities.tools { throw CallRefusal(400, "unsupported_capability", "model '\(alias)' does not support tools") }
        if request.hasImages, !capabilities.vision { throw CallRefusal(400, "unsupported_capability", "model '\(alias)' does not accept images") }
        if request.stream, !capabilities.streaming { throw CallRefusal(400, "unsupported_capability", "model '\(alias)' does not stream") }
        if let requested = request.requestedMaxTokens, requested > min(model.maxTokens, outputTokensMax) {
            throw CallRefusal(400, "invalid_request", "max tokens \(requested) is above the limit of model '\(alias)' (\(model.maxTokens))")
        }

        let policy = agent.policy
        if request.usesTools {
            if let allowed = policy.tools {
                guard !allowed.isEmpty else { throw CallRefusal(403, "policy_violation", "this agent may not use tools") }
                if let denied = request.toolNames.first(where: { !allowed.contains($0) }) {
                    throw CallRefusal(403, "policy_violation", "this agent may not use tool '\(denied)'")
                }
            }
        }
        if request.hasImages, !policy.vision { throw CallRefusal(403, "policy_violation", "this agent may not send images") }
        if let requested = request.requestedMaxTokens, let cap = policy.maxTokens, requested > cap {
            throw CallRefusal(403, "policy_violation", "max tokens \(requested) is above this agent's cap (\(cap))")
        }
        if passthroughKey != nil, !policy.passthrough {
            throw CallRefusal(403, "policy_violation", "this agent may not pass its own provider key")
        }
        if request.stream, !policy.streaming { throw CallRefusal(403, "policy_violation", "this agent may not stream") }
        if request.stream, endpoint == .embeddings {
            throw CallRefusal(400, "invalid_request", "embeddings do not stream")
        }

        let apiKey = passthroughKey ?? catalog.keys[provider.apiKeyEnv]
        if provider.needsAPIKey, apiKey == nil {
            throw CallRefusal(503, "provider_not_configured", "provider '\(provider.name)' has no API key (\(provider.apiKeyEnv))")
        }
        let addsOutputLimit = endpoint != .embeddings && request.requestedMaxTokens == nil
        var perChoice: Int64 = endpoint == .embeddings
            ? 0 : min(request.requestedMaxTokens ?? policy.maxTokens.map { min($0, model.maxTokens) } ?? model.maxTokens, outputTokensMax)
        // A call whose bound alone exceeds the agent's tokens per minute could never be admitted:
        // the limit AEX adds is lowered to fit; a limit the request named is refused for good
        // (not 429: waiting would not help).
        if let tpm = agent.tpm, request.promptTokensBound &+ perChoice * request.choices > tpm {
            let room = tpm &- request.promptTokensBound
            if addsOutputLimit, room >= request.choices {
                perChoice = room / request.choices
            } else {
                throw CallRefusal(403, "policy_violation",
                                  "this request may use up to \(request.promptTokensBound &+ perChoice * request.choices) tokens, more than this agent's limit of \(tpm) tokens per minute; send less or lower the output limit")
            }
        }
        let plan = CallPlan(
            endpoint: endpoint, alias: alias, model: model, provider: provider, request: request, outputTokensPerChoice: perChoice,
            addsOutputLimit: addsOutputLimit, apiKey: provider.needsAPIKey ? apiKey : nil)
        assert(plan.outputTokensPerChoice >= 0 && plan.outputTokensPerChoice <= outputTokensMax, "an output bound out of range")
        assert(plan.request.choices >= 1 && plan.request.choices <= CallRequest.choicesMax, "choices out of range")
        assert(agent.tpm.map { plan.admittedTokens <= $0 } ?? true, "a plan that can never fit the agent's tokens per minute")
        return plan
    }

    /// The largest output limit of one choice AEX accepts or adds, whatever a model's file says, so
    /// that the bound of every choice together fits comfortably in `Int64` (× `CallRequest.choicesMax`).
    public static let outputTokensMax: Int64 = 1 << 40
}
