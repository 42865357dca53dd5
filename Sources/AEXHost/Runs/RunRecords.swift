/// The database side of run supervision, run on the store writer inside its transaction: each
/// change of a run's row is written with its ledger event (`run_started`, `process_killed`,
/// `run_ended`), so the database never shows one without the other. Used by the daemon's
/// `RunSupervisor` and, when no daemon runs, by the CLI under the writer lock.
public enum RunRecords {
    /// Random base62 characters after `run_`.
    static let idRandomLength = 16
    /// The most of a command's text kept (`aex ps`, the `run_started` event); longer ones are cut.
    static let commandBytesMax = 4_096

    /// What `aex run` asks for.
    public struct Request: Sendable, Equatable {
        public var agentName: String
        public var cap: MicroUSD?
        public var ttlSeconds: Int64?
        public var killOnExhaust: Bool
        public var command: [String]
        public var supervisor: ProcessIdentity

        public init(agentName: String, cap: MicroUSD?, ttlSeconds: Int64?, killOnExhaust: Bool, command: [String],
                    supervisor: ProcessIdentity) {
            self.agentName = agentName
            self.cap = cap
            self.ttlSeconds = ttlSeconds
            self.killOnExhaust = killOnExhaust
            self.command = command
            self.supervisor = supervisor
        }
    }

    /// Starts a run of a live, active agent: a new run id and token (only its SHA-256 is kept), the
    /// row, and `run_started`. Returns the run and its token (shown once, to `aex run`).
    public static func start(_ request: Request, _ db: SQLiteDatabase, nowMicros: Int64) throws -> (run: Run, token: String) {
        guard let agent = try AgentTable.live(named: request.agentName, db) else { throw ManagementError.notFound(request.agentName) }
        guard agent.state == .active else { throw ManagementError.invalid("agent '\(agent.name)' is paused; resume it to start a run") }
        if let cap = request.cap, cap.value < 0 { throw ManagementError.invalid("a run's budget cannot be negative") }
        guard !request.command.isEmpty else { throw ManagementError.invalid("a run needs a command") }
        var expiresAt: Int64?
        if let ttl = request.ttlSeconds {
            guard ttl >= 1 else { throw ManagementError.invalid("a run's ttl must be positive") }
            let (micros, o1) = ttl.multipliedReportingOverflow(by: 1_000_000)
            let (at, o2) = nowMicros.addingReportingOverflow(micros)
            if o1 || o2 { throw ManagementError.invalid("the run's ttl is too long") }
            expiresAt = at
        }
        let token = Token.newAgentToken()
        let run = Run(
            id: "run_" + SecureRandom.base62(idRandomLength), agentID: agent.id, agentName: agent.name,
            tokenSHA256: Token.digestHex(token), tokenPrefix: Token.displayPrefix(token), supervisor: request.supervisor, child: nil,
            command: cut(request.command), startedAtMicros: nowMicros, ttlSeconds: request.ttlSeconds, expiresAtMicros: expiresAt,
            cap: request.cap, killOnExhaust: request.killOnExhaust, state: .running, stopReason: nil)
        try RunTable.insert(run, db)
        try EventLog.append(
            LedgerEvent(type: .runStarted, agentID: agent.id, agentName: agent.name, payload: .object([
                "run_id": .string(run.id), "budget_micro": .optional(run.cap?.value), "ttl_seconds": .optional(run.ttlSeconds),
                "kill_on_exhaust": .bool(run.killOnExhaust), "command": .string(run.commandLine),
                "supervisor_pid": .int(Int64(run.supervisor.pid)), "token_prefix": .string(run.tokenPrefix),
            ])),
            to: db, nowMicros: nowMicros)
        return (run, token)
    }

    /// Records the child `aex run` spawned (its pid is its process group). Returns the run as it is
    /// now: a run terminated meanwhile is `stopping`, and its caller signals the new group at once.
    public static func attach(_ runID: String, child: ProcessIdentity, _ db: SQLiteDatabase) throws -> Run {
        guard var run = try RunTable.find(runID, db) else { throw RunNotFound(runID: runID) }
        guard run.state != .ended else { return run }
        try RunTable.setChild(runID, child, db)
        run.child = child
        return run
    }

    /// A running run is terminated: `stopping`, with `process_killed` (its reason and group).
    /// Returns nil (nothing written) when the run is not running.
    public static func stop(_ runID: String, reason: RunStopReason, _ db: SQLiteDatabase, nowMicros: Int64) throws -> Run? {
        guard var run = try RunTable.find(runID, db), run.state == .running else { return nil }
        try RunTable.setStopping(runID, reason: reason.rawValue, db)
        try EventLog.append(
            LedgerEvent(type: .processKilled, agentID: run.agentID, agentName: run.agentName, payload: .object([
                "run_id": .string(run.id), "pgid": .optional(run.child.map { Int64($0.pid) }), "reason": .string(reason.rawValue),
            ])),
            to: db, nowMicros: nowMicros)
        run.state = .stopping
        run.stopReason = reason.rawValue
        return run
    }

    /// How a run ended, as `run_ended` records it.
    public struct Ending: Sendable, Equatable {
        /// The child's exit code, when it exited.
        public var exitCode: Int32?
        /// The signal that killed the child, when one did.
        public var signal: Int32?
        /// `exited` (reported by `aex run`), `supervisor_gone`, …
        public var reason: String

        public init(exitCode: Int32?, signal: Int32?, reason: String) {
            self.exitCode = exitCode
            self.signal = signal
            self.reason = reason
        }

        public static let exited = "exited"
    }

    /// Ends a run that has not ended: `ended`, with `run_ended` (exit, spending). Returns the run
    /// and what it spent, or nil (nothing written) when it had already ended.
    public static func end(_ runID: String, _ ending: Ending, _ db: SQLiteDatabase, nowMicros: Int64) throws -> (run: Run, spent: MicroUSD)? {
        guard var run = try RunTable.find(runID, db) else { throw RunNotFound(runID: runID) }
        guard run.state != .ended else { return nil }
        try db.flushAgentCounterChanges()
        let spent = try RunTable.spent(runID, db)
        try RunTable.setEnded(runID, exitCode: ending.exitCode.map(Int64.init), signal: ending.signal.map(Int64.init), db, nowMicros: nowMicros)
        try EventLog.append(
            LedgerEvent(type: .runEnded, agentID: run.agentID, agentName: run.agentName, payload: .object([
                "run_id": .string(run.id), "exit_code": .optional(ending.exitCode.map(Int64.init)),
                "signal": .optional(ending.signal.map(Int64.init)), "spent_micro": .int(spent.value), "reason": .string(ending.reason),
            ])),
            to: db, nowMicros: nowMicros)
        run.state = .ended
        return (run, spent)
    }

    /// The runs not ended, each with what it has spent (committed calls).
    public static func active(_ db: SQLiteDatabase) throws -> [(run: Run, spent: MicroUSD)] {
        try RunTable.active(db).map { ($0, try RunTable.spent($0.id, db)) }
    }

    public static func find(_ runID: String, _ db: SQLiteDatabase) throws -> Run? { try RunTable.find(runID, db) }

    /// Keeps the command within `commandBytesMax` bytes of text (arguments past it are dropped).
    static func cut(_ command: [String]) -> [String] {
        var kept: [String] = []
        var bytes = 0
        for argument in command {
            bytes += argument.utf8.count + 1
            guard bytes <= commandBytesMax else { break }
            kept.append(argument)
        }
        return kept.isEmpty ? [String(decoding: command[0].utf8.prefix(commandBytesMax), as: UTF8.self)] : kept
    }
}

/// No run has this id.
public struct RunNotFound: Error, Equatable, CustomStringConvertible {
    public let runID: String
    public var description: String { "no run '\(runID)'" }
}
