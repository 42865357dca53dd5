/// One agent as the kernel holds it. Money is micro-USD; times are UTC microseconds.
/// Invariant (outside a recorded overdraft): spent + reserved ≤ budget.
public struct Agent: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var state: AgentState
    public var budget: MicroUSD
    public var spent: MicroUSD
    public var reserved: MicroUSD
    public var rpm: Int64
    public var tpm: Int64?
    public var policy: AgentPolicy
    /// Lower-case hex SHA-256 of the token; the token itself is never stored.
    public var tokenSHA256: String
    public var tokenPrefix: String
    public var tokenExpiresAtMicros: Int64?
    /// The lifetime given to each new token of this agent (create and rotate); nil: no expiry.
    public var tokenTTLSeconds: Int64?
    public var createdAtMicros: Int64

    /// The agent's money as one checked value (`Money/Balance`).
    public var balance: Balance {
        get { Balance(budget: budget, spent: spent, reserved: reserved) }
        set {
            budget = newValue.budget
            spent = newValue.spent
            reserved = newValue.reserved
        }
    }

    /// budget − spent − reserved; negative only during a recorded overdraft.
    public var remaining: MicroUSD { balance.remaining }

    public func isTokenExpired(nowMicros: Int64) -> Bool {
        tokenExpiresAtMicros.map { nowMicros >= $0 } ?? false
    }
}
