import Glibc

/// Run supervision done by the CLI itself, under the writer lock, when no daemon runs: terminating
/// runs (`aex kill`, `aex agent pause|delete`), ending one (`aex run` whose daemon went away), and
/// listing them (`aex ps`). The daemon reconciles what it finds at its next start.
public enum LocalRuns {
    /// Which runs a termination is for.
    public enum Target: Sendable {
        case run(String)
        case agent(name: String)
        case agentID(Int64)
    }

    /// Terminates the target's running runs: `process_killed` recorded, SIGTERM to each group,
    /// and SIGKILL to what is left of them after `graceSeconds` (this call waits for that). Returns
    /// the ids of the runs terminated.
    public static func terminate(_ target: Target, reason: RunStopReason, writer: StoreWriter, graceSeconds: Int) throws -> [String] {
        let stopped = try writer.perform { db -> [Run] in
            let running = try RunRecords.active(db).map(\.run).filter { run in
                guard run.state == .running else { return false }
                switch target {
                case .run(let id): return run.id == id
                case .agent(let name): return run.agentName == name
                case .agentID(let id): return run.agentID == id
                }
            }
            return try running.compactMap { try RunRecords.stop($0.id, reason: reason, db, nowMicros: WallClock.nowMicros()) }
        }
        let signalled = stopped.compactMap(\.child).filter { ProcessGroup.signal(of: $0, SIGTERM) }
        let deadline = WallClock.monotonicMillis() + Int64(graceSeconds) * 1_000
        while signalled.contains(where: { ProcessGroup.exists(of: $0) }), WallClock.monotonicMillis() < deadline {
            usleep(50_000)
        }
        for child in signalled { ProcessGroup.signal(of: child, SIGKILL) }
        return stopped.map(\.id)
    }

    /// Ends a run (`run_ended`); nil when it had already ended.
    public static func end(_ runID: String, _ ending: RunRecords.Ending, writer: StoreWriter) throws -> MicroUSD? {
        try writer.perform { db in try RunRecords.end(runID, ending, db, nowMicros: WallClock.nowMicros())?.spent }
    }

    /// The runs not ended, as recorded (nothing is reserved while no daemon runs).
    public static func list(writer: StoreWriter) throws -> [RunView] {
        try writer.perform { db in try RunRecords.active(db).map { RunView(run: $0.run, spent: $0.spent, reserved: .zero) } }
    }
}
