/// A change to the set of agents, as the CLI and the admin API request it.
public enum AgentCommand: Sendable, Equatable {
    case create(name: String, settings: AgentSettings)
    case update(name: String, settings: AgentSettings)
    case pause(name: String)
    case resume(name: String)
    case delete(name: String)
    /// `ttlSeconds`: nil keeps the agent's configured lifetime; `.some(nil)` makes the new token never expire.
    case rotateToken(name: String, ttlSeconds: Int64??)
}

/// What a command produced: the agent after the change and, for create and rotate, the new token.
public struct AgentCommandResult: Sendable {
    public var agent: Agent
    public var token: String?
}
