import Foundation
import Glibc
import Synchronization

/// The daemon's side of `aex run` (SPEC §12): records runs through the store writer, gives their
/// credentials to the `AgentRegistry`, terminates their process groups, and watches them.
///
/// - Terminating a run (`aex kill`, the agent paused or deleted, `--kill-on-exhaust`, its `aex run`
///   gone) revokes its token at once, sends SIGTERM to its group, records `process_killed`, and
///   sends SIGKILL to whatever of the group is left after the grace period.
/// - Every `checkMilliseconds` it looks at each run's `aex run` process: when that is gone (killed),
///   nothing would report the child's end, so the run is terminated and ended here.
/// - At start (`reconcile`), the runs a previous daemon recorded are taken over when their `aex run`
///   still lives, and terminated and ended when it does not.
///
/// Invariants: a run's token works only while the run is `running`; every run recorded ends in
/// exactly one `run_ended`; a group is signalled only through the child identity recorded for it.
public final class RunSupervisor: Sendable {
    /// How often the runs' `aex run` processes and the pending SIGKILLs are looked at.
    public static let checkMilliseconds = 250

    private struct Tracked {
        var run: Run
        /// Spent and reserved when its credential was revoked (then the registry no longer has it).
        var moneyAtStop: (spent: MicroUSD, reserved: MicroUSD)?
    }

    private struct PendingKill {
        var child: ProcessIdentity
        var dueMillis: Int64
    }

    private struct State {
        var tracked: [String: Tracked] = [:]
        var pendingKills: [PendingKill] = []
        /// Runs whose end is being written (so a check does not end them twice).
        var ending: Set<String> = []
    }

    private let writer: StoreWriter
    private let registry: AgentRegistry
    private let killGraceMilliseconds: Int64
    private let logger: Logger?
    private let now: @Sendable () -> Int64
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "aex.runs")
    private let watching = Atomic<Bool>(false)

    public init(writer: StoreWriter, registry: AgentRegistry, killGraceSeconds: Int, logger: Logger?,
                now: @escaping @Sendable () -> Int64 = WallClock.nowMicros) {
        self.writer = writer
        self.registry = registry
        killGraceMilliseconds = Int64(killGraceSeconds) * 1_000
        self.logger = logger
        self.now = now
    }

    // MARK: Start and stop

    /// Takes over the runs a previous daemon recorded (start-up, before serving; blocks): a run
    /// whose `aex run` lives goes on (its token works again); one whose `aex run` is gone is
    /// terminated and ended.
    public func reconcile() throws {
        let active = try writer.perform { db in try RunRecords.active(db) }
        for (run, spent) in active {
            guard run.supervisor.isAlive else {
                logger?.warn("run's aex run process is gone; ending it", ["run_id": .string(run.id)])
                state.withLock { $0.tracked[run.id] = Tracked(run: run, moneyAtStop: (spent, .zero)) }
                supervisorGone(run.id)
                continue
            }
            state.withLock { $0.tracked[run.id] = Tracked(run: run, moneyAtStop: run.state == .running ? nil : (spent, .zero)) }
            if run.state == .running {
                registry.putRun(run.credential(spent: spent))
            } else if let child = run.child {
                signalGroup(child)  // its termination was under way: finish it
            }
        }
    }

    /// Starts the periodic check.
    public func startWatching() {
        guard !watching.exchange(true, ordering: .relaxed) else { return }
        scheduleCheck()
    }

    public func stopWatching() { watching.store(false, ordering: .relaxed) }

    private func scheduleCheck() {
        queue.asyncAfter(deadline: .now() + .milliseconds(Self.checkMilliseconds)) { [self] in
            guard watching.load(ordering: .relaxed) else { return }
            check()
            scheduleCheck()
        }
    }

    // MARK: What aex run asks

    /// Records a new run; its token works once this completes.
    public func start(_ request: RunRecords.Request, completion: @escaping @Sendable (Result<(run: Run, token: String), any Error>) -> Void) {
        let now = self.now
        writer.submit({ db in try RunRecords.start(request, db, nowMicros: now()) }) { [self] result in
            if case .success(let started) = result {
                state.withLock { $0.tracked[started.run.id] = Tracked(run: started.run, moneyAtStop: nil) }
                registry.putRun(started.run.credential(spent: .zero))
            }
            completion(result)
        }
    }

    /// Records the child `aex run` spawned for `runID` (pid = its process group). A run terminated
    /// before its child was known has the group signalled now.
    public func attach(_ runID: String, pid: Int32, completion: @escaping @Sendable (Result<Run, any Error>) -> Void) {
        guard let child = ProcessIdentity.current(pid: pid) else {
            return completion(.failure(ManagementError.invalid("no live process \(pid)")))
        }
        writer.submit({ db in try RunRecords.attach(runID, child: child, db) }) { [self] result in
            if case .success(let run) = result {
                let stopping = state.withLock { state -> Bool in
                    state.tracked[runID]?.run.child = child
                    return state.tracked[runID].map { $0.run.state != .running } ?? true
                }
                if stopping { signalGroup(child) }
                completion(.success(run))
            } else {
                completion(result)
            }
        }
    }

    /// `aex run` reports its child's exit: the run ends and its token is revoked. Completes with
    /// what the run spent (nil when it had already ended).
    public func end(_ runID: String, _ ending: RunRecords.Ending, completion: @escaping @Sendable (Result<MicroUSD?, any Error>) -> Void) {
        registry.removeRun(runID)
        let now = self.now
        writer.submit({ db in try RunRecords.end(runID, ending, db, nowMicros: now())?.spent }) { [self] result in
            if case .success = result { _ = state.withLock { $0.tracked.removeValue(forKey: runID) } }
            completion(result)
        }
    }

    // MARK: Termination

    /// Terminates the run (`aex kill RUN_ID`); completes with whether it was running.
    public func terminate(runID: String, reason: RunStopReason, completion: @escaping @Sendable (Bool) -> Void = { _ in }) {
        let runs = state.withLock { state in state.tracked[runID].map { [$0.run] } ?? [] }
        terminate(runs, reason: reason) { completion(!$0.isEmpty) }
    }

    /// Terminates every run of the agent (`aex kill NAME`, pause, delete); completes with the ids
    /// of the runs terminated.
    public func terminate(agentID: Int64, reason: RunStopReason, completion: @escaping @Sendable ([String]) -> Void = { _ in }) {
        let runs = state.withLock { state in state.tracked.values.map(\.run).filter { $0.agentID == agentID } }
        terminate(runs, reason: reason, completion: completion)
    }

    /// A budget can no longer pay (`ProxyAPI`): its runs started with `--kill-on-exhaust` are terminated.
    public func exhausted(_ exhaustion: BudgetExhaustion) {
        let (runs, reason): ([Run], RunStopReason) = state.withLock { state in
            switch exhaustion {
            case .run(let runID, let byAgentBudget):
                let runs = [state.tracked[runID]?.run].compactMap { $0 }.filter { $0.killOnExhaust && $0.state == .running }
                return (runs, byAgentBudget ? .agentBudgetExhausted : .runBudgetExhausted)
            case .agent(let agentID):
                guard !state.tracked.isEmpty else { return ([], .agentBudgetExhausted) }
                return (state.tracked.values.map(\.run).filter { $0.agentID == agentID && $0.killOnExhaust && $0.state == .running },
                        .agentBudgetExhausted)
            }
        }
        guard !runs.isEmpty else { return }
        terminate(runs, reason: reason) { _ in }
    }

    /// For each run still running: revoke its token, SIGTERM its group (SIGKILL after the grace
    /// period), then record `process_killed`.
    private func terminate(_ runs: [Run], reason: RunStopReason, completion: @escaping @Sendable ([String]) -> Void) {
        var stopped: [String] = []
        for run in runs {
            let credential = registry.removeRun(run.id)
            let child = state.withLock { state -> ProcessIdentity?? in
                guard state.tracked[run.id]?.run.state == .running else { return .none }
                state.tracked[run.id]!.run.state = .stopping
                state.tracked[run.id]!.run.stopReason = reason.rawValue
                state.tracked[run.id]!.moneyAtStop = (credential?.balance.spent ?? .zero, credential?.balance.reserved ?? .zero)
                return .some(state.tracked[run.id]!.run.child)
            }
            guard case .some(let known) = child else { continue }
            if let known { signalGroup(known) }
            stopped.append(run.id)
            logger?.info("terminating a run", ["run_id": .string(run.id), "agent": .string(run.agentName), "reason": .string(reason.rawValue)])
        }
        guard !stopped.isEmpty else { return completion([]) }
        let now = self.now
        let ids = stopped
        writer.submit({ db in
            for id in ids { _ = try RunRecords.stop(id, reason: reason, db, nowMicros: now()) }
        }) { [logger] result in
            if case .failure(let error) = result {
                logger?.error("process_killed not recorded", ["error": .string("\(error)")])
            }
            completion(ids)
        }
    }

    /// SIGTERM to the child's group now, SIGKILL to what is left of it after the grace period.
    private func signalGroup(_ child: ProcessIdentity) {
        guard ProcessGroup.signal(of: child, SIGTERM) else { return }
        let due = WallClock.monotonicMillis() + killGraceMilliseconds
        state.withLock { $0.pendingKills.append(PendingKill(child: child, dueMillis: due)) }
    }

    // MARK: The periodic check

    private func check() {
        let nowMillis = WallClock.monotonicMillis()
        let (due, watched) = state.withLock { state -> ([ProcessIdentity], [Run]) in
            let due = state.pendingKills.filter { $0.dueMillis <= nowMillis }.map(\.child)
            state.pendingKills.removeAll { $0.dueMillis <= nowMillis }
            return (due, state.tracked.values.filter { !state.ending.contains($0.run.id) }.map(\.run))
        }
        for child in due where ProcessGroup.signal(of: child, SIGKILL) {
            logger?.warn("a run's process group outlived the grace period; killed", ["pgid": .int(Int64(child.pid))])
        }
        for run in watched where !run.supervisor.isAlive {
            supervisorGone(run.id)
        }
    }

    /// The run's `aex run` is gone: terminate its group (if it still runs) and end it here.
    private func supervisorGone(_ runID: String) {
        guard state.withLock({ $0.ending.insert(runID).inserted }) else { return }
        let run = state.withLock { $0.tracked[runID]?.run }
        let finish: @Sendable () -> Void = { [self] in
            end(runID, RunRecords.Ending(exitCode: nil, signal: nil, reason: RunStopReason.supervisorGone.rawValue)) { [self] result in
                if case .failure(let error) = result {
                    logger?.error("run_ended not recorded", ["run_id": .string(runID), "error": .string("\(error)")])
                }
                _ = state.withLock { $0.ending.remove(runID) }
            }
        }
        if run?.state == .running {
            terminate(runID: runID, reason: .supervisorGone) { _ in finish() }
        } else {
            if let child = run?.child, run?.state == .stopping { signalGroup(child) }
            finish()
        }
    }

    // MARK: Reading

    /// The runs not ended, oldest first, with their spending now.
    public func list() -> [RunView] {
        let tracked = state.withLock { Array($0.tracked.values) }
        return tracked.map { entry in
            if let money = entry.moneyAtStop { return RunView(run: entry.run, spent: money.spent, reserved: money.reserved) }
            let balance = registry.run(entry.run.id)?.balance
            return RunView(run: entry.run, spent: balance?.spent ?? .zero, reserved: balance?.reserved ?? .zero)
        }.sorted { ($0.run.startedAtMicros, $0.run.id) < ($1.run.startedAtMicros, $1.run.id) }
    }

    public func run(_ runID: String) -> Run? { state.withLock { $0.tracked[runID]?.run } }
}
