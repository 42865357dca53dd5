import Foundation

/// An agent as users see it: the JSON object of SPEC section 3 (`--json`, admin API), money in
/// integer micro-USD, times as ISO 8601 UTC. `token` is present only right after create or rotate.
public struct AgentView: Sendable, Equatable, Decodable {
    public var name: String
    public var token: String?
    public var token_prefix: String
    public var budget_micro: Int64
    public var spent_micro: Int64
    public var reserved_micro: Int64
    public var remaining_micro: Int64
    public var rpm: Int64
    public var tpm: Int64?
    public var state: String
    public var models: [String]?
    public var tools: [String]?
    public var streaming: Bool
    public var vision: Bool
    public var max_tokens: Int64?
    public var passthrough: Bool
    public var read_only: Bool
    public var token_expires_at: String?
    public var created_at: String

    public init(_ agent: Agent, token: String? = nil) {
        name = agent.name
        self.token = token
        token_prefix = agent.tokenPrefix
        budget_micro = agent.budget.value
        spent_micro = agent.spent.value
        reserved_micro = agent.reserved.value
        remaining_micro = agent.remaining.value
        rpm = agent.rpm
        tpm = agent.tpm
        state = agent.state.rawValue
        models = agent.policy.models
        tools = agent.policy.tools
        streaming = agent.policy.streaming
        vision = agent.policy.vision
        max_tokens = agent.policy.maxTokens
        passthrough = agent.policy.passthrough
        read_only = agent.policy.readOnly
        token_expires_at = agent.tokenExpiresAtMicros.map { WallClock.iso8601(micros: $0) }
        created_at = WallClock.iso8601(micros: agent.createdAtMicros)
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(name), "token_prefix": .string(token_prefix), "budget_micro": .int(budget_micro),
            "spent_micro": .int(spent_micro), "reserved_micro": .int(reserved_micro),
            "remaining_micro": .int(remaining_micro), "rpm": .int(rpm), "tpm": .optional(tpm), "state": .string(state),
            "models": .optional(models), "tools": .optional(tools), "streaming": .bool(streaming),
            "vision": .bool(vision), "max_tokens": .optional(max_tokens), "passthrough": .bool(passthrough),
            "read_only": .bool(read_only), "token_expires_at": .optional(token_expires_at),
            "created_at": .string(created_at),
        ]
        if let token { object["token"] = .string(token) }
        return .object(object)
    }

    public static func decode(_ data: [UInt8]) throws -> AgentView {
        try JSONDecoder().decode(AgentView.self, from: Data(data))
    }

    public static func decodeList(_ data: [UInt8]) throws -> [AgentView] {
        try JSONDecoder().decode([AgentView].self, from: Data(data))
    }
}
