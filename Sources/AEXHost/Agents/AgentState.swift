/// An agent's lifecycle state. `deleted` is a soft delete: the row stays for the ledger's history.
public enum AgentState: String, Sendable, Codable {
    case active
    case paused
    case deleted
}
