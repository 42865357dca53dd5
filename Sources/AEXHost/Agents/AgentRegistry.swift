import Synchronization

/// The live agents, in memory, for lock-light reads by the event loops. Only the store writer's
/// completions change it, after the change has committed, so it never shows uncommitted state.
public final class AgentRegistry: Sendable {
    private struct State {
        var byName: [String: Agent] = [:]
        var namesByTokenPrefix: [String: [String]] = [:]
    }

    private let state = Mutex(State())

    public init(agents: [Agent] = []) {
        for agent in agents { put(agent) }
    }

    public func agent(named name: String) -> Agent? { state.withLock { $0.byName[name] } }

    public func all() -> [Agent] { state.withLock { $0.byName.values.sorted { $0.name < $1.name } } }

    /// Finds the live agent holding `token`: candidates by the token's clear prefix, then a
    /// constant-time comparison of SHA-256 digests.
    public func agent(holding token: String) -> Agent? {
        let prefix = Token.displayPrefix(token)
        let candidates = state.withLock { state in
            (state.namesByTokenPrefix[prefix] ?? []).compactMap { state.byName[$0] }
        }
        guard !candidates.isEmpty else { return nil }
        let presented = Array(Token.digestHex(token).utf8)
        return candidates.first { ConstantTime.equal(Array($0.tokenSHA256.utf8), presented) }
    }

    /// Inserts or replaces the agent with this name; a deleted agent is removed.
    public func put(_ agent: Agent) {
        state.withLock { state in
            if let old = state.byName[agent.name] {
                state.namesByTokenPrefix[old.tokenPrefix]?.removeAll { $0 == old.name }
                if state.namesByTokenPrefix[old.tokenPrefix]?.isEmpty == true {
                    state.namesByTokenPrefix[old.tokenPrefix] = nil
                }
            }
            if agent.state == .deleted {
                state.byName[agent.name] = nil
            } else {
                state.byName[agent.name] = agent
                state.namesByTokenPrefix[agent.tokenPrefix, default: []].append(agent.name)
            }
        }
    }
}
