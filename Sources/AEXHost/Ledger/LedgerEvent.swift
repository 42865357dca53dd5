/// One governance event, before it is chained into `event_log`.
public struct LedgerEvent: Sendable, Equatable {
    public var type: LedgerEventType
    public var agentID: Int64?
    public var agentName: String?
    public var executionID: String?
    /// The payload's canonical JSON text (see `JSONValue`).
    public var payloadText: [UInt8]

    public init(type: LedgerEventType, agentID: Int64?, agentName: String?, executionID: String? = nil, payload: JSONValue) {
        var text = [UInt8]()
        payload.write(into: &text)
        self.init(type: type, agentID: agentID, agentName: agentName, executionID: executionID, payloadText: text)
    }

    /// `payloadText` must already be canonical (as `CanonicalJSONObject` writes it).
    init(type: LedgerEventType, agentID: Int64?, agentName: String?, executionID: String?, payloadText: [UInt8]) {
        self.type = type
        self.agentID = agentID
        self.agentName = agentName
        self.executionID = executionID
        self.payloadText = payloadText
    }
}

/// The event types written to the ledger (SPEC section 10). Stored as their raw value.
public enum LedgerEventType: String, Sendable, CaseIterable {
    case agentCreated = "agent_created"
    case agentUpdated = "agent_updated"
    case agentPaused = "agent_paused"
    case agentResumed = "agent_resumed"
    case agentDeleted = "agent_deleted"
    case tokenRotated = "token_rotated"
    case reservation = "reservation"
    case commit = "commit"
    case release = "release"
    case denial = "denial"
    case rateLimited = "rate_limited"
    case policyRefusal = "policy_refusal"
    case configReload = "config_reload"
    case recovery = "recovery"
    case pluginInstalled = "plugin_installed"
    /// A bundled plugin's library changed (a rebuild): its new SHA-256 is recorded.
    case pluginUpdated = "plugin_updated"
    case pluginEnabled = "plugin_enabled"
    case pluginDisabled = "plugin_disabled"
    case pluginRemoved = "plugin_removed"
    /// `aex run` started a supervised run (SPEC §12); `run_ended` when it ended.
    case runStarted = "run_started"
    case runEnded = "run_ended"
    /// A run's process group was terminated (SIGTERM, then SIGKILL after the grace period).
    case processKilled = "process_killed"
}
