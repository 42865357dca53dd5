import Synchronization

/// The live agents, in memory, for lock-light reads by the event loops. Only the store writer's
/// completions change it, after the change has committed, so it never shows uncommitted state.
public final class AgentRegistry: Sendable {
    private struct State {
        var byName: [String: Agent] = [:]
        var namesByTokenPrefix: [String: [String]] = [:]
        var rateWindows: [Int64: RateWindow] = [:]
        /// Live runs' credentials and money (SPEC §12), and their ids by token prefix.
        var runs: [String: RunCredential] = [:]
        var runIDsByTokenPrefix: [String: [String]] = [:]
        /// Each agent's spending over the last hour (burn rate).
        var spendWindows: [Int64: SpendWindow] = [:]
    }

    /// The result of `admit`.
    public enum Admission: Sendable, Equatable {
        case admitted
        case rateLimited(retryAfterSeconds: Int)
        /// `runID`: the run whose cap refused it (its remaining is given); nil when the agent's did.
        case budgetExceeded(remaining: MicroUSD, runID: String? = nil)
        case gone
    }

    private let state = Mutex(State())

    public init(agents: [Agent] = []) {
        for agent in agents { put(agent) }
    }

    public func agent(named name: String) -> Agent? { state.withLock { $0.byName[name] } }

    public func all() -> [Agent] { state.withLock { $0.byName.values.sorted { $0.name < $1.name } } }

    /// Finds the live agent holding `token`: candidates by the token's clear prefix, then a
    /// constant-time comparison of SHA-256 digests.
    public func agent(holding token: String) -> Agent? { caller(holding: token)?.agent }

    /// The agent, and the run when it is a run's token, holding `token`: the agents' tokens are
    /// looked at first (candidates by the clear prefix, then a constant-time comparison of SHA-256
    /// digests), then the live runs' the same way.
    public func caller(holding token: String) -> Caller? {
        let prefix = Token.displayPrefix(token)
        let presented = Token.digestHex(token)
        // Compared in place; only the match is copied out (an `Agent` copy retains all it holds).
        return state.withLock { state in
            for name in state.namesByTokenPrefix[prefix] ?? [] {
                guard let index = state.byName.index(forKey: name) else { continue }
                if ConstantTime.equal(state.byName.values[index].tokenSHA256, presented) {
                    let agent = state.byName.values[index]
                    return Caller(agent: agent, runID: nil, expiresAtMicros: agent.tokenExpiresAtMicros)
                }
            }
            for runID in state.runIDsByTokenPrefix[prefix] ?? [] {
                guard let run = state.runs[runID], ConstantTime.equal(run.tokenSHA256, presented),
                      let agent = state.byName[run.agentName], agent.id == run.agentID else { continue }
                return Caller(agent: agent, runID: runID, expiresAtMicros: run.expiresAtMicros)
            }
            return nil
        }
    }

    /// Rate limit and budget together, atomically, in SPEC §9 order: admits the call only if the
    /// agent (same id) — and its run, for a run's call — is still live, its window has room (else
    /// `.rateLimited`, whatever the budget), the run's `spent + reserved + amount ≤ cap`, and the
    /// agent's `spent + reserved + amount ≤ budget`; then records the admission and adds `amount`
    /// to both reserved counters. A refusal changes nothing.
    public func admit(agentID: Int64, name: String, runID: String? = nil, amount: MicroUSD, tokens: Int64, nowMillis: Int64) -> Admission {
        state.withLock { state in
            // Read and changed in place: copying an `Agent` retains every string and list it holds.
            guard let index = state.byName.index(forKey: name), state.byName.values[index].id == agentID else { return .gone }
            if let runID, state.runs[runID]?.agentID != agentID { return .gone }
            // Mutated in place (a copy would duplicate the whole window on every call).
            let (rpm, tpm) = (state.byName.values[index].rpm, state.byName.values[index].tpm)
            if let retryAfter = state.rateWindows[agentID, default: RateWindow()]
                .refusal(nowMillis: nowMillis, rpm: rpm, tpm: tpm, tokens: tokens) {
                return .rateLimited(retryAfterSeconds: retryAfter)
            }
            if let runID {
                guard state.runs[runID]!.balance.reserve(amount) else {
                    return .budgetExceeded(remaining: state.runs[runID]!.balance.remaining, runID: runID)
                }
            }
            guard state.byName.values[index].balance.reserve(amount) else {
                if let runID { state.runs[runID]!.balance.withdraw(amount) }
                return .budgetExceeded(remaining: state.byName.values[index].balance.remaining)
            }
            state.rateWindows[agentID, default: RateWindow()].record(nowMillis: nowMillis, tokens: tokens)
            return .admitted
        }
    }

    /// Ends a reservation: reserved −= `reserved`, spent += `cost` (a cost above the reservation is
    /// an overdraft, recorded by the caller), and the admission's tokens in the rate window become
    /// `usedTokens` (what the call really used, up or down). `spent` never wraps: a cost that would
    /// take it past `Int64.max` is cut there. Returns the agent's remaining budget after the change
    /// and the cost actually applied (nil when the agent is gone: then `cost` stands), and for a
    /// run's call the run's remaining cap (nil when it has none or has ended).
    @discardableResult
    public func settle(agentID: Int64, name: String, runID: String? = nil, reserved: MicroUSD, cost: MicroUSD,
                       admission: (atMillis: Int64, tokens: Int64)? = nil,
                       usedTokens: Int64? = nil) -> (remaining: MicroUSD, cost: MicroUSD, runRemaining: MicroUSD?)? {
        state.withLock { state in
            if let admission, let usedTokens {
                state.rateWindows[agentID]?.correct(atMillis: admission.atMillis, admittedTokens: admission.tokens, actualTokens: usedTokens)
            }
            guard let index = state.byName.index(forKey: name), state.byName.values[index].id == agentID else { return nil }
            let applied = state.byName.values[index].balance.settle(reserved: reserved, cost: cost)
            if applied.value > 0 { state.spendWindows[agentID, default: SpendWindow()].add(applied.value, nowMillis: WallClock.monotonicMillis()) }
            var runRemaining: MicroUSD?
            if let runID, state.runs[runID] != nil {
                state.runs[runID]!.balance.settle(reserved: reserved, cost: applied)
                if state.runs[runID]!.cap != nil { runRemaining = state.runs[runID]!.balance.remaining }
            }
            return (state.byName.values[index].remaining, applied, runRemaining)
        }
    }

    /// Undoes an admission whose call never started (its reservation could not be recorded): the
    /// reserved amount is released and the rate windows get the request and its tokens back.
    public func withdraw(agentID: Int64, name: String, runID: String? = nil, reserved: MicroUSD, tokens: Int64, admittedAtMillis: Int64) {
        state.withLock { state in
            state.rateWindows[agentID]?.withdraw(atMillis: admittedAtMillis, tokens: tokens)
            if let runID { state.runs[runID]?.balance.withdraw(reserved) }
            guard let index = state.byName.index(forKey: name), state.byName.values[index].id == agentID else { return }
            state.byName.values[index].balance.withdraw(reserved)
        }
    }

    /// Inserts or replaces the agent with this name; a deleted agent is removed. While the agent
    /// lives, its in-memory spent and reserved stay (they run ahead of the database by the calls
    /// in flight); a new agent or a new id takes the given numbers.
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
                state.rateWindows[agent.id] = nil
                state.spendWindows[agent.id] = nil
                // A deleted agent's run tokens stop working with its own.
                for run in state.runs.values where run.agentID == agent.id { Self.removeRun(run.runID, &state) }
            } else {
                var agent = agent
                if let old = state.byName[agent.name], old.id == agent.id {
                    agent.spent = old.spent
                    agent.reserved = old.reserved
                }
                state.byName[agent.name] = agent
                state.namesByTokenPrefix[agent.tokenPrefix, default: []].append(agent.name)
            }
        }
    }

    // MARK: Status

    /// An agent with its rate use and burn rate now (`/admin/status`, `/metrics`).
    public struct Status: Sendable {
        public var agent: Agent
        public var requestsLastMinute: Int
        /// Spent in the last hour (micro-USD): the burn rate per hour.
        public var spentLastHourMicro: Int64

        /// Seconds until the remaining budget is spent at the last hour's rate; nil when nothing
        /// is being spent, 0 when nothing remains.
        public var budgetExhaustionSeconds: Double? {
            let remaining = max(0, agent.remaining.value)
            if remaining == 0 { return 0 }
            guard spentLastHourMicro > 0 else { return nil }
            return Double(remaining) / Double(spentLastHourMicro) * 3_600
        }
    }

    /// Every live agent's status, by name.
    public func statuses(nowMillis: Int64) -> [Status] {
        state.withLock { state in
            state.byName.values.sorted { $0.name < $1.name }.map { agent in
                Status(agent: agent, requestsLastMinute: state.rateWindows[agent.id]?.requests(nowMillis: nowMillis) ?? 0,
                       spentLastHourMicro: state.spendWindows[agent.id]?.lastHourMicro(nowMillis: nowMillis) ?? 0)
            }
        }
    }

    // MARK: Runs

    /// Adds a live run's credential (its token starts working).
    public func putRun(_ run: RunCredential) {
        state.withLock { state in
            Self.removeRun(run.runID, &state)
            state.runs[run.runID] = run
            state.runIDsByTokenPrefix[run.tokenPrefix, default: []].append(run.runID)
        }
    }

    /// Revokes a run's credential (its token stops working at once); its calls in flight still
    /// settle against the agent. Returns the credential as it was.
    @discardableResult
    public func removeRun(_ runID: String) -> RunCredential? { state.withLock { Self.removeRun(runID, &$0) } }

    public func run(_ runID: String) -> RunCredential? { state.withLock { $0.runs[runID] } }

    public func runs() -> [RunCredential] { state.withLock { Array($0.runs.values) } }

    @discardableResult
    private static func removeRun(_ runID: String, _ state: inout State) -> RunCredential? {
        guard let run = state.runs.removeValue(forKey: runID) else { return nil }
        state.runIDsByTokenPrefix[run.tokenPrefix]?.removeAll { $0 == runID }
        if state.runIDsByTokenPrefix[run.tokenPrefix]?.isEmpty == true { state.runIDsByTokenPrefix[run.tokenPrefix] = nil }
        return run
    }
}
