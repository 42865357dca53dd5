import Foundation

/// Rows of the `runs` table ↔ `Run`. Runs on whichever thread owns the connection.
enum RunTable {
    static let columns = """
        r.id, r.agent_id, a.name, r.token_sha256, r.token_prefix, r.supervisor_pid, r.supervisor_start_ticks, r.pid,
        r.pid_start_ticks, r.command, r.started_at, r.ttl_seconds, r.expires_at, r.budget_micro, r.kill_on_exhaust, r.state,
        r.stop_reason
        """

    static func insert(_ run: Run, _ db: SQLiteDatabase) throws {
        try db.run(
            """
            INSERT INTO runs (id, agent_id, token_sha256, token_prefix, supervisor_pid, supervisor_start_ticks, command,
                started_at, ttl_seconds, expires_at, budget_micro, kill_on_exhaust, state)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(run.id), .integer(run.agentID), .text(run.tokenSHA256), .text(run.tokenPrefix),
             .integer(Int64(run.supervisor.pid)), .integer(run.supervisor.startTicks), .text(encode(run.command)),
             .integer(run.startedAtMicros), .optional(run.ttlSeconds), .optional(run.expiresAtMicros),
             .optional(run.cap?.value), .bool(run.killOnExhaust), .text(run.state.rawValue)])
    }

    static func find(_ runID: String, _ db: SQLiteDatabase) throws -> Run? {
        try db.query("SELECT \(columns) FROM runs r JOIN agents a ON a.id = r.agent_id WHERE r.id = ?", [.text(runID)], run).first
    }

    /// The runs not ended, oldest first.
    static func active(_ db: SQLiteDatabase) throws -> [Run] {
        try db.query("SELECT \(columns) FROM runs r JOIN agents a ON a.id = r.agent_id WHERE r.state != 'ended' ORDER BY r.started_at, r.id",
                     [], run)
    }

    static func setChild(_ runID: String, _ child: ProcessIdentity, _ db: SQLiteDatabase) throws {
        try db.run("UPDATE runs SET pid = ?, pid_start_ticks = ? WHERE id = ?",
                   [.integer(Int64(child.pid)), .integer(child.startTicks), .text(runID)])
    }

    static func setStopping(_ runID: String, reason: String, _ db: SQLiteDatabase) throws {
        try db.run("UPDATE runs SET state = 'stopping', stop_reason = ? WHERE id = ? AND state = 'running'", [.text(reason), .text(runID)])
    }

    static func setEnded(_ runID: String, exitCode: Int64?, signal: Int64?, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        try db.run("UPDATE runs SET state = 'ended', ended_at = ?, exit_code = ?, signal = ? WHERE id = ? AND state != 'ended'",
                   [.integer(nowMicros), .optional(exitCode), .optional(signal), .text(runID)])
    }

    /// What the run's calls have cost: its committed executions.
    static func spent(_ runID: String, _ db: SQLiteDatabase) throws -> MicroUSD {
        let total = try db.query(
            """
            SELECT COALESCE(SUM(e.cost_micro), 0) FROM run_executions r JOIN executions e ON e.id = r.execution_id
            WHERE r.run_id = ? AND e.state = 'COMMITTED'
            """,
            [.text(runID)]) { $0.int64(0) }.first ?? 0
        return MicroUSD(total)
    }

    static func run(_ row: SQLiteStatement) throws -> Run {
        guard let state = Run.State(rawValue: row.text(15)) else {
            throw SQLiteError(code: 0, message: "runs row \(row.text(0)) has an unknown state")
        }
        var child: ProcessIdentity?
        if let pid = row.optionalInt64(7), let ticks = row.optionalInt64(8), let pid32 = Int32(exactly: pid) {
            child = ProcessIdentity(pid: pid32, startTicks: ticks)
        }
        return Run(
            id: row.text(0), agentID: row.int64(1), agentName: row.text(2), tokenSHA256: row.text(3), tokenPrefix: row.text(4),
            supervisor: ProcessIdentity(pid: Int32(truncatingIfNeeded: row.int64(5)), startTicks: row.int64(6)), child: child,
            command: decode(row.text(9)), startedAtMicros: row.int64(10), ttlSeconds: row.optionalInt64(11),
            expiresAtMicros: row.optionalInt64(12), cap: row.optionalInt64(13).map(MicroUSD.init), killOnExhaust: row.bool(14),
            state: state, stopReason: row.optionalText(16))
    }

    static func encode(_ command: [String]) -> String { JSONValue.array(command.map { .string($0) }).canonicalText }

    static func decode(_ text: String) -> [String] {
        guard let data = text.data(using: .utf8) else { return [] }
        return (try? JSONDecoder().decode([String].self, from: data)) ?? []
    }
}
