import CLinux
import Dispatch
import Foundation
import Synchronization

/// The one thread that writes the database. Callers queue operations; the writer drains everything
/// queued into one transaction (group commit), runs each operation inside its own savepoint (so a
/// failing operation rolls back alone), commits, and only then calls the completions, on the writer
/// thread. Completions must not block: an event loop's completion posts itself back to its loop.
///
/// Invariants: exactly one `StoreWriter` per database per process, and one process holding the
/// home's writer lock; an operation's completion runs after its effects are durable (per
/// `Durability`) or with the error that undid them.
public final class StoreWriter: Sendable {
    public static let batchOperationsMax = 1_024

    private struct PendingOperation: Sendable {
        /// Runs the work inside the open transaction; returns what to do once the commit is known.
        let run: @Sendable (SQLiteDatabase) -> @Sendable (Result<Void, any Error>) -> Void
        /// Where the completion runs: this event loop, or (nil) the writer thread.
        let loop: EventLoop?
        /// The completion with an error, without running the work (the transaction never began).
        let fail: @Sendable (any Error) -> Void
    }

    private struct Queue {
        var operations: [PendingOperation] = []
        var stopping = false
    }

    /// What the writer thread and the submitters share.
    private final class Shared: Sendable {
        let queue = Mutex(Queue())
        let wakeup = DispatchSemaphore(value: 0)
        let stopped = DispatchSemaphore(value: 0)
        let committedBatches = Atomic<Int>(0)
    }

    private let shared = Shared()
    private var wakeup: DispatchSemaphore { shared.wakeup }
    private var stopped: DispatchSemaphore { shared.stopped }

    /// Opens (creating if needed) the database at `path`, applies migrations and starts the thread.
    public init(path: String, durability: Durability = .full) throws {
        let opened = DispatchSemaphore(value: 0)
        let openError = Mutex<(any Error)?>(nil)
        let thread = Thread { [shared] in
            _ = aex_set_thread_name("aex-writer")
            let db: SQLiteDatabase
            do {
                db = try SQLiteDatabase(path: path)
                try db.execute("PRAGMA journal_mode = WAL")
                try db.execute(durability.pragma)
                try db.execute("PRAGMA foreign_keys = ON")
                try Migrations.apply(to: db)
            } catch {
                openError.withLock { $0 = error }
                opened.signal()
                shared.stopped.signal()
                return
            }
            opened.signal()
            StoreWriter.runLoop(db: db, shared: shared)
            shared.stopped.signal()
        }
        thread.start()
        opened.wait()
        if let error = openError.withLock({ $0 }) { throw error }
    }

    /// Queues `work`; `completion` gets its result after the transaction holding it commits.
    public func submit<T: Sendable>(
        _ work: @escaping @Sendable (SQLiteDatabase) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        submit(work, loop: nil, completion: completion)
    }

    /// Queues `work`; `completion` runs on `loop` after the commit. The completions of one batch
    /// for one loop are handed over together (one wake-up per loop per batch, not per operation).
    public func submit<T: Sendable>(
        _ work: @escaping @Sendable (SQLiteDatabase) throws -> T, on loop: EventLoop,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        submit(work, loop: loop, completion: completion)
    }

    private func submit<T: Sendable>(
        _ work: @escaping @Sendable (SQLiteDatabase) throws -> T, loop: EventLoop?,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        let operation = PendingOperation(run: { db in
            let outcome: Result<T, any Error> = StoreWriter.inSavepoint(db) { try work(db) }
            return { committed in
                switch committed {
                case .success: completion(outcome)
                case .failure(let error): completion(.failure(error))
                }
            }
        }, loop: loop, fail: { error in completion(.failure(error)) })
        let accepted = shared.queue.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.operations.append(operation)
            return true
        }
        if accepted {
            wakeup.signal()
        } else if let loop {
            loop.execute { completion(.failure(StoreError.writerStopped)) }
        } else {
            completion(.failure(StoreError.writerStopped))
        }
    }

    /// Queues `work` and waits for it. For the CLI and start-up only: never call it on an event loop.
    public func perform<T: Sendable>(_ work: @escaping @Sendable (SQLiteDatabase) throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<T, any Error>?>(nil)
        submit(work) { outcome in
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }

    /// Commits what is queued, then stops the thread. Later submissions fail with `writerStopped`.
    public func stop() {
        let first = shared.queue.withLock { state -> Bool in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return }
        wakeup.signal()
        stopped.wait()
    }

    /// Number of committed transactions so far (for metrics and tests of grouping).
    public var batchesCommitted: Int { shared.committedBatches.load(ordering: .relaxed) }

    private static func runLoop(db: SQLiteDatabase, shared: Shared) {
        while true {
            shared.wakeup.wait()
            while true {
                let (batch, stopping) = shared.queue.withLock { state in
                    let count = min(state.operations.count, batchOperationsMax)
                    let batch = Array(state.operations.prefix(count))
                    state.operations.removeFirst(count)
                    return (batch, state.stopping)
                }
                if batch.isEmpty {
                    if stopping { return }
                    break
                }
                commit(batch, db: db)
                shared.committedBatches.add(1, ordering: .relaxed)
            }
        }
    }

    private static func commit(_ batch: [PendingOperation], db: SQLiteDatabase) {
        do {
            try db.statement("BEGIN IMMEDIATE").runToCompletion()
        } catch {
            let failures: [@Sendable (Result<Void, any Error>) -> Void] = batch.map { operation in { _ in operation.fail(error) } }
            deliver(failures, batch, .failure(error))
            return
        }
        let finishers = batch.map { $0.run(db) }
        let committed: Result<Void, any Error>
        do {
            try db.flushAgentCounterChanges()
            try db.statement("COMMIT").runToCompletion()
            db.agentCounterChanges.discard()
            committed = .success(())
        } catch {
            try? db.run("ROLLBACK")
            db.eventLogHead = nil
            db.agentCounterChanges.discard()
            committed = .failure(error)
        }
        deliver(finishers, batch, committed)
    }

    /// Runs writer-thread completions here and hands each loop its completions in one task.
    private static func deliver(
        _ finishers: [@Sendable (Result<Void, any Error>) -> Void], _ batch: [PendingOperation], _ committed: Result<Void, any Error>
    ) {
        var byLoop: [ObjectIdentifier: (EventLoop, [@Sendable (Result<Void, any Error>) -> Void])] = [:]
        for (finish, operation) in zip(finishers, batch) {
            if let loop = operation.loop {
                byLoop[ObjectIdentifier(loop), default: (loop, [])].1.append(finish)
            } else {
                finish(committed)
            }
        }
        for (loop, group) in byLoop.values {
            loop.execute { for finish in group { finish(committed) } }
        }
    }

    private static func inSavepoint<T>(_ db: SQLiteDatabase, _ work: () throws -> T) -> Result<T, any Error> {
        do {
            try db.statement("SAVEPOINT op").runToCompletion()
        } catch {
            return .failure(error)
        }
        let counterMark = db.agentCounterChanges.mark
        do {
            let value = try work()
            try db.statement("RELEASE op").runToCompletion()
            return .success(value)
        } catch {
            try? db.run("ROLLBACK TO op")
            try? db.run("RELEASE op")
            db.eventLogHead = nil
            db.agentCounterChanges.rollback(to: counterMark)
            return .failure(error)
        }
    }
}
