import Testing
@testable import AEXHost

/// Admission before rate limit and budget, in SPEC §9 order, as a pure function.
@Suite struct CallPolicyTests {
    static let yaml = """
    version: 1
    default_model: chat
    providers:
      up:
        base_url: http://127.0.0.1:1/v1
        type: openai_compatible
      local:
        base_url: local://echo
        type: echo
    models:
      chat:
        provider: up
        provider_model: big-model
        pricing:
          input_micro: 2
          output_micro: 3
        limits:
          max_tokens: 100
        capabilities:
          tools: true
      plain:
        provider: up
        provider_model: small
        pricing:
          input_micro: 1
          output_micro: 1
        limits:
          max_tokens: 50
        capabilities:
          embeddings: false
      vectors:
        provider: up
        provider_model: emb
        pricing:
          input_micro: 1
          output_micro: 0
        limits:
          max_tokens: 1
        capabilities:
          embeddings: true
      offline:
        provider: local
        provider_model: echo
        pricing:
          input_micro: 1
          output_micro: 1
        limits:
          max_tokens: 10
    """

    func snapshot(keys: [String: String] = ["UP_API_KEY": "k"]) throws -> ModelCatalog.Snapshot {
        ModelCatalog.Snapshot(
            config: try ModelsConfig.parse(Self.yaml, file: "models.yaml", providerTypes: ["openai_compatible", "echo"]), keys: keys)
    }

    func agent(_ change: (inout AgentPolicy) -> Void = { _ in }, state: AgentState = .active) -> Agent {
        var policy = AgentPolicy.default
        change(&policy)
        return Agent(id: 1, name: "a", state: state, budget: MicroUSD(1_000_000), spent: .zero, reserved: .zero, rpm: 10, tpm: nil,
                     policy: policy, tokenSHA256: "", tokenPrefix: "", tokenExpiresAtMicros: nil, tokenTTLSeconds: nil, createdAtMicros: 0)
    }

    func refusal(_ body: String, endpoint: Endpoint = .chatCompletions, agent: Agent? = nil, passthrough: String? = nil,
                 keys: [String: String] = ["UP_API_KEY": "k"]) throws -> CallRefusal? {
        let catalog = try snapshot(keys: keys)
        do {
            _ = try CallPolicy.plan(endpoint: endpoint, body: Array(body.utf8), passthroughKey: passthrough,
                                    agent: agent ?? self.agent(), catalog: catalog)
            return nil
        } catch {
            return error
        }
    }

    let hello = #"{"model":"chat","messages":[{"role":"user","content":"hello"}]}"#

    @Test func plansAValidCall() throws {
        let plan = try CallPolicy.plan(endpoint: .chatCompletions, body: Array(hello.utf8), passthroughKey: nil, agent: agent(), catalog: try snapshot())
        #expect(plan.alias == "chat")
        #expect(plan.request.promptTokensBound == 4 + 5 + 8, "\"user\" + \"hello\" + one message overhead")
        #expect(plan.completionTokensBound == 100)
        #expect(plan.addsOutputLimit)
        #expect(plan.apiKey == "k")
        let capped = try CallPolicy.plan(endpoint: .chatCompletions, body: Array(hello.utf8), passthroughKey: nil,
                                         agent: agent { $0.maxTokens = 20 }, catalog: try snapshot())
        #expect(capped.completionTokensBound == 20)
        let defaulted = try CallPolicy.plan(endpoint: .chatCompletions, body: Array(#"{"messages":[{"role":"user","content":"x"}]}"#.utf8),
                                            passthroughKey: nil, agent: agent(), catalog: try snapshot())
        #expect(defaulted.alias == "chat", "default_model applies when the request names none")
    }

    @Test func eachRefusalHasItsStatusAndCode() throws {
        let tools = #"{"model":"MODEL","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"search"}}]}"#
        let image = #"{"model":"MODEL","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:x"}}]}]}"#
        let cases: [(CallRefusal?, Int, String)] = [
            (try refusal(hello, agent: agent { $0.readOnly = true }), 403, "read_only_token"),
            (try refusal(hello, agent: agent(state: .paused)), 423, "agent_paused"),
            (try refusal("{"), 400, "invalid_request"),
            (try refusal(#"{"model":"chat","messages":[]}"#), 400, "invalid_request"),
            (try refusal(#"{"model":"chat","messages":"hi"}"#), 400, "invalid_request"),
            (try refusal(#"{"model":"chat","messages":[{"role":"user","content":"x"}],"max_tokens":"9"}"#), 400, "invalid_request"),
            (try refusal(#"{"model":"chat","messages":[{"role":"user","content":"x"}],"max_tokens":101}"#), 400, "invalid_request"),
            (try refusal(#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#), 403, "model_not_allowed"),
            (try refusal(hello, agent: agent { $0.models = ["plain"] }), 403, "model_not_allowed"),
            (try refusal(tools.replacingOccurrences(of: "MODEL", with: "plain")), 400, "unsupported_capability"),
            (try refusal(image.replacingOccurrences(of: "MODEL", with: "chat")), 400, "unsupported_capability"),
            (try refusal(#"{"model":"plain","input":"x"}"#, endpoint: .embeddings), 400, "unsupported_capability"),
            (try refusal(tools.replacingOccurrences(of: "MODEL", with: "chat"), agent: agent { $0.tools = [] }), 403, "policy_violation"),
            (try refusal(tools.replacingOccurrences(of: "MODEL", with: "chat"), agent: agent { $0.tools = ["other"] }), 403, "policy_violation"),
            (try refusal(#"{"model":"chat","messages":[{"role":"user","content":"x"}],"max_tokens":50}"#, agent: agent { $0.maxTokens = 10 }),
             403, "policy_violation"),
            (try refusal(hello, passthrough: "sk-own"), 403, "policy_violation"),
            (try refusal(#"{"model":"chat","messages":[{"role":"user","content":"x"}],"stream":true}"#, agent: agent { $0.streaming = false }),
             403, "policy_violation"),
            (try refusal(hello, keys: [:]), 503, "provider_not_configured"),
        ]
        for (index, (got, status, code)) in cases.enumerated() {
            #expect(got?.status == status && got?.code == code, "case \(index): \(String(describing: got))")
        }
        #expect(try refusal(#"{"model":"chat","input":"x"}"#, endpoint: .embeddings) == nil, "embeddings unless the file says false")
        #expect(try refusal(#"{"model":"offline","messages":[{"role":"user","content":"x"}]}"#, keys: [:]) == nil, "local providers need no key")
        #expect(try refusal(tools.replacingOccurrences(of: "MODEL", with: "chat"), agent: agent { $0.tools = ["search"] }) == nil)
        #expect(try refusal(hello, agent: agent { $0.passthrough = true }, passthrough: "sk-own", keys: [:]) == nil)
    }

    @Test func theOutputBoundIsTheLargestLimitTimesTheChoices() throws {
        func plan(_ members: String, _ change: (inout AgentPolicy) -> Void = { _ in }) throws -> CallPlan {
            try CallPolicy.plan(endpoint: .chatCompletions, body: Array(#"{"model":"chat","messages":[{"role":"user","content":"x"}],\#(members)}"#.utf8),
                                passthroughKey: nil, agent: agent(change), catalog: try snapshot())
        }
        let both = try plan(#""max_completion_tokens":1,"max_tokens":90"#)
        #expect(both.completionTokensBound == 90 && !both.addsOutputLimit)
        #expect(try plan(#""max_tokens":10,"n":7"#).completionTokensBound == 70)
        let added = try plan(#""n":3"#)
        #expect(added.outputTokensPerChoice == 100 && added.completionTokensBound == 300 && added.addsOutputLimit)
        #expect(try refusal(#"{"model":"chat","messages":[{"role":"user","content":"x"}],"max_completion_tokens":1,"max_tokens":101}"#)?.code
                == "invalid_request", "the largest limit is checked against the model's")
    }

    @Test func aBoundThatCanNeverFitTheTokensPerMinuteIsRefusedForGood() throws {
        var limited = agent()
        limited.tpm = 50
        let named = #"{"model":"chat","messages":[{"role":"user","content":"x"}],"max_tokens":60}"#
        let refused = try refusal(named, agent: limited)
        #expect(refused?.status == 403 && refused?.code == "policy_violation" && refused?.retryAfterSeconds == nil)
        // With no limit named, the one AEX adds is lowered to fit: 50 − (4 + 1 + 8) prompt tokens.
        let plan = try CallPolicy.plan(endpoint: .chatCompletions, body: Array(#"{"model":"chat","messages":[{"role":"user","content":"x"}],"n":2}"#.utf8),
                                       passthroughKey: nil, agent: limited, catalog: try snapshot())
        #expect(plan.outputTokensPerChoice == 18 && plan.admittedTokens <= 50)
    }

    @Test func checksRunInSpecOrder() throws {
        // Paused and read-only before validity: the body is not even looked at.
        #expect(try refusal("not json", agent: agent(state: .paused))?.code == "agent_paused")
        // Validity before model.
        #expect(try refusal(#"{"model":"nope","messages":[]}"#)?.code == "invalid_request")
        // Model before policy.
        #expect(try refusal(#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#, passthrough: "k")?.code == "model_not_allowed")
        // Capability before policy.
        let image = #"{"model":"plain","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#
        #expect(try refusal(image)?.code == "unsupported_capability")
    }

    @Test func promptBoundCountsStringValuesAndOverheads() throws {
        let body = #"{"messages":[{"role":"system","content":"abc"},{"role":"user","content":[{"type":"text","text":"héllo"}]}]}"#
        let request = try RequestInspector.inspect(.chatCompletions, body: Array(body.utf8))
        let expected: Int64 = 6 + 3 + 4 + 4 + 6  // "system", "abc", "user", "text", "héllo" (é is two bytes)
        #expect(request.promptBytes == expected)
        #expect(request.itemCount == 2)
        let embed = try RequestInspector.inspect(.embeddings, body: Array(#"{"input":["ab","cde"]}"#.utf8))
        #expect(embed.promptBytes == 5 && embed.itemCount == 2)
    }
}
