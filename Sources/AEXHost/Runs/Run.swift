/// One supervised run of `aex run` (SPEC §12) as recorded in the `runs` table. Money is micro-USD;
/// times are UTC microseconds.
public struct Run: Sendable, Equatable {
    public enum State: String, Sendable {
        /// The child runs and the run's token works.
        case running
        /// Terminated (SIGTERM sent, SIGKILL after the grace period); the token no longer works.
        case stopping
        /// Over: the child's exit was reported, or its `aex run` is gone.
        case ended
    }

    public var id: String
    public var agentID: Int64
    public var agentName: String
    public var tokenSHA256: String
    public var tokenPrefix: String
    /// The `aex run` process that supervises the child.
    public var supervisor: ProcessIdentity
    /// The child; its pid is also its process group's id. Nil until `aex run` has spawned it.
    public var child: ProcessIdentity?
    public var command: [String]
    public var startedAtMicros: Int64
    public var ttlSeconds: Int64?
    public var expiresAtMicros: Int64?
    /// `--budget`; nil: the agent's budget alone bounds the run.
    public var cap: MicroUSD?
    public var killOnExhaust: Bool
    public var state: State
    /// Why it was terminated (`process_killed`'s reason), once it was.
    public var stopReason: String?

    /// The run's credential for the registry, with what it has spent so far.
    public func credential(spent: MicroUSD) -> RunCredential {
        RunCredential(runID: id, agentID: agentID, agentName: agentName, tokenSHA256: tokenSHA256, tokenPrefix: tokenPrefix,
                      expiresAtMicros: expiresAtMicros, cap: cap, spent: spent)
    }

    /// The command as one line (for `aex ps`).
    public var commandLine: String { command.joined(separator: " ") }
}

/// Why a run's process group was terminated (the `process_killed` event's `reason`).
public enum RunStopReason: String, Sendable, CaseIterable {
    /// `aex kill NAME|RUN_ID`.
    case killed
    case agentPaused = "agent_paused"
    case agentDeleted = "agent_deleted"
    /// `--kill-on-exhaust`: the run's cap, or the agent's budget, can no longer pay for its calls.
    case runBudgetExhausted = "run_budget_exhausted"
    case agentBudgetExhausted = "agent_budget_exhausted"
    /// Its `aex run` process is gone (killed): nothing supervises the child any more.
    case supervisorGone = "supervisor_gone"
}
