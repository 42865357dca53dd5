/// A run as `aex ps` shows it (SPEC §3; money in micro-USD, times ISO-8601 UTC).
public struct RunView: Sendable {
    public var run: Run
    public var spent: MicroUSD
    public var reserved: MicroUSD

    public init(run: Run, spent: MicroUSD, reserved: MicroUSD) {
        self.run = run
        self.spent = spent
        self.reserved = reserved
    }

    public var json: JSONValue {
        .object([
            "run_id": .string(run.id), "agent": .string(run.agentName),
            "pid": .optional(run.child.map { Int64($0.pid) }), "pgid": .optional(run.child.map { Int64($0.pid) }),
            "supervisor_pid": .int(Int64(run.supervisor.pid)),
            "command": .string(run.commandLine),
            "started_at": .string(WallClock.iso8601(micros: run.startedAtMicros)),
            "ttl_seconds": .optional(run.ttlSeconds),
            "expires_at": run.expiresAtMicros.map { .string(WallClock.iso8601(micros: $0)) } ?? .null,
            "budget_micro": .optional(run.cap?.value), "spent_micro": .int(spent.value), "reserved_micro": .int(reserved.value),
            "state": .string(run.state.rawValue), "stop_reason": .optional(run.stopReason), "kill_on_exhaust": .bool(run.killOnExhaust),
        ])
    }
}
