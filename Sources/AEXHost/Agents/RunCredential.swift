/// A run's credential and money as the registry holds them (SPEC §12): a token of the agent scoped
/// to one `aex run`, with an optional cap of its own inside the agent's budget.
///
/// Invariant: `balance.budget` is the cap, or `Int64.max` micro-USD when the run has none (the
/// agent's budget alone then bounds it); its spent and reserved count this run's calls only.
public struct RunCredential: Sendable, Equatable {
    public var runID: String
    public var agentID: Int64
    public var agentName: String
    /// Lower-case hex SHA-256 of the run token; the token itself is never stored.
    public var tokenSHA256: String
    public var tokenPrefix: String
    public var expiresAtMicros: Int64?
    /// The run's own cap (`--budget`); nil: none.
    public var cap: MicroUSD?
    public var balance: Balance

    public init(runID: String, agentID: Int64, agentName: String, tokenSHA256: String, tokenPrefix: String,
                expiresAtMicros: Int64?, cap: MicroUSD?, spent: MicroUSD = .zero) {
        self.runID = runID
        self.agentID = agentID
        self.agentName = agentName
        self.tokenSHA256 = tokenSHA256
        self.tokenPrefix = tokenPrefix
        self.expiresAtMicros = expiresAtMicros
        self.cap = cap
        balance = Balance(budget: cap ?? MicroUSD(Int64.max), spent: spent)
    }
}

/// Who presented a token on an agent route: the agent, and the run when the token is a run's.
public struct Caller: Sendable, Equatable {
    public var agent: Agent
    /// The run whose token this is; nil for the agent's own token.
    public var runID: String?
    /// When the presented token stops working (the agent's token lifetime, or the run's `--ttl`).
    public var expiresAtMicros: Int64?

    public init(agent: Agent, runID: String? = nil, expiresAtMicros: Int64?) {
        self.agent = agent
        self.runID = runID
        self.expiresAtMicros = expiresAtMicros
    }

    public func isExpired(nowMicros: Int64) -> Bool { expiresAtMicros.map { nowMicros >= $0 } ?? false }
}

/// A budget that can no longer pay for its calls, as the proxy reports it to run supervision
/// (`--kill-on-exhaust`).
public enum BudgetExhaustion: Sendable, Equatable {
    /// The run's spending reached its cap, or its call was refused because the run's cap
    /// (`byAgentBudget` false) or the agent's remaining budget (true) could not cover it.
    case run(runID: String, byAgentBudget: Bool)
    /// The agent's remaining budget reached zero: every run of it is exhausted.
    case agent(agentID: Int64)
}
