import Dispatch
import Foundation
import Synchronization

/// The one thread that writes the database. Callers queue operations; the writer drains everything
/// queued into one transaction (group commit), commits, and only then calls the completions, on the
/// writer thread or handed to their event loop. Completions must not block.
///
/// A failing operation rolls back alone. The writer first runs a batch without savepoints (they cost
/// more than a ledger operation's own statements); when an operation throws, it rolls the whole
/// transaction back and runs the batch again with a savepoint per operation. Operations are
/// therefore run at most twice and must not change anything outside the database (and the
/// connection's own caches) before they return.
///
/// Invariants: exactly one `StoreWriter` per database per process, and one process holding the
/// home's writer lock; an operation's completion runs once, after its effects are durable (per
/// `Durability`) or with the error that undid them.
public final class StoreWriter: Sendable {
    public static let batchOperationsMax = 1_024

    /// One queued operation. Created by a submitter, run and completed by the writer thread, then
    /// possibly completed on an event loop (handed over through `EventLoop.execute`, which orders
    /// the writer's accesses before the loop's). Not generic: the ledger's hot path runs it with no
    /// runtime type lookups; work with a result goes through a `ResultSlot`.
    private final class PendingOperation: @unchecked Sendable {
        private let work: @Sendable (SQLiteDatabase) throws -> Void
        private let completion: @Sendable (Result<Void, any Error>) -> Void
        /// Where the completion runs: this event loop, or (nil) the writer thread.
        let loop: EventLoop?
        private var outcome: Result<Void, any Error>?
        private var completed = false

        init(work: @escaping @Sendable (SQLiteDatabase) throws -> Void, loop: EventLoop?,
             completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
            self.work = work
            self.completion = completion
            self.loop = loop
        }

        /// Runs the work inside the open transaction and keeps its outcome; false when it threw.
        func run(_ db: SQLiteDatabase) -> Bool {
            do {
                try work(db)
                outcome = .success(())
                return true
            } catch {
                outcome = .failure(error)
                return false
            }
        }

        /// Replaces the kept outcome with `error` (the operation's effects were undone).
        func fail(_ error: any Error) { outcome = .failure(error) }

        /// Calls the completion: with the kept outcome once the transaction committed, else with
        /// `transactionError` (which also covers a transaction that never began).
        func complete(transactionError: (any Error)?) {
            assert(!completed, "an operation's completion ran twice")
            completed = true
            if let transactionError {
                completion(.failure(transactionError))
            } else {
                completion(outcome ?? .failure(StoreError.writerStopped))
            }
        }
    }

    /// What a work with a result produced, from its (last) run to its completion.
    private final class ResultSlot<T>: @unchecked Sendable {
        var value: T?
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
        /// How long each COMMIT took (the durable write), for `GET /metrics`.
        let commitDurations = Mutex(Histogram())
    }

    private let shared = Shared()
    private var wakeup: DispatchSemaphore { shared.wakeup }
    private var stopped: DispatchSemaphore { shared.stopped }

    /// Opens (creating if needed) the database at `path`, applies migrations and starts the thread.
    public init(path: String, durability: Durability = .full) throws {
        let opened = DispatchSemaphore(value: 0)
        let openError = Mutex<(any Error)?>(nil)
        let thread = Thread { [shared] in
            ThreadName.set("aex-writer")
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

    /// Queues `work`, which has no result; `completion` runs on `loop` after the commit. (The same
    /// as the generic forms without their runtime cost: the ledger's hot path.)
    public func submit(
        _ work: @escaping @Sendable (SQLiteDatabase) throws -> Void, on loop: EventLoop,
        completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        enqueue(PendingOperation(work: work, loop: loop, completion: completion))
    }

    /// Queues `work`, which has no result; `completion` runs on the writer thread after the commit.
    public func submit(
        _ work: @escaping @Sendable (SQLiteDatabase) throws -> Void,
        completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        enqueue(PendingOperation(work: work, loop: nil, completion: completion))
    }

    private func submit<T: Sendable>(
        _ work: @escaping @Sendable (SQLiteDatabase) throws -> T, loop: EventLoop?,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        let produced = ResultSlot<T>()
        enqueue(PendingOperation(work: { db in produced.value = try work(db) }, loop: loop) { outcome in
            completion(outcome.map { produced.value! })
        })
    }

    /// Queues `operation`, or completes it with `writerStopped` (on its loop) once the writer stopped.
    private func enqueue(_ operation: PendingOperation) {
        let accepted = shared.queue.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.operations.append(operation)
            return true
        }
        if accepted {
            wakeup.signal()
        } else if let loop = operation.loop {
            loop.execute { operation.complete(transactionError: StoreError.writerStopped) }
        } else {
            operation.complete(transactionError: StoreError.writerStopped)
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

    /// The durations of the commits so far.
    public var commitDurations: Histogram { shared.commitDurations.withLock { $0 } }

    private static func runLoop(db: SQLiteDatabase, shared: Shared) {
        while true {
            shared.wakeup.wait()
            while true {
                let (batch, stopping) = shared.queue.withLock { state -> ([PendingOperation], Bool) in
                    if state.operations.count <= batchOperationsMax {
                        defer { state.operations.removeAll(keepingCapacity: true) }
                        return (state.operations, state.stopping)
                    }
                    defer { state.operations.removeFirst(batchOperationsMax) }
                    return (Array(state.operations.prefix(batchOperationsMax)), state.stopping)
                }
                if batch.isEmpty {
                    if stopping { return }
                    break
                }
                commit(batch, db: db, shared: shared)
                shared.committedBatches.add(1, ordering: .relaxed)
            }
        }
    }

    private static func commit(_ batch: [PendingOperation], db: SQLiteDatabase, shared: Shared) {
        do {
            try begin(db)
            if !batch.allSatisfy({ $0.run(db) }) {
                // An operation threw, perhaps half-way: undo the batch, then run it again with each
                // operation in its own savepoint so that only the failing ones are undone.
                rollback(db)
                try begin(db)
                for operation in batch { runInSavepoint(operation, db) }
            }
            try db.transactionState?.beforeCommit(db)
            let started = WallClock.monotonicMicros()
            try db.statement("COMMIT").runToCompletion()
            let micros = WallClock.monotonicMicros() - started
            shared.commitDurations.withLock { $0.observe(micros: micros) }
            db.transactionState?.committed()
        } catch {
            rollback(db)
            return deliver(batch, transactionError: error)
        }
        deliver(batch, transactionError: nil)
    }

    private static func begin(_ db: SQLiteDatabase) throws {
        try db.statement("BEGIN IMMEDIATE").runToCompletion()
    }

    /// Ends the open transaction, if any, without its changes, and forgets what the connection
    /// cached from it.
    private static func rollback(_ db: SQLiteDatabase) {
        try? db.run("ROLLBACK")
        db.transactionState?.rolledBack()
    }

    /// Completes writer-thread operations here and hands each loop its completions in one task.
    private static func deliver(_ batch: [PendingOperation], transactionError: (any Error)?) {
        var byLoop: [(loop: EventLoop, operations: [PendingOperation])] = []
        for operation in batch {
            guard let loop = operation.loop else {
                operation.complete(transactionError: transactionError)
                continue
            }
            if let index = byLoop.firstIndex(where: { $0.loop === loop }) {
                byLoop[index].operations.append(operation)
            } else {
                byLoop.append((loop, [operation]))
            }
        }
        for (loop, operations) in byLoop {
            loop.execute { for operation in operations { operation.complete(transactionError: transactionError) } }
        }
    }

    private static func runInSavepoint(_ operation: PendingOperation, _ db: SQLiteDatabase) {
        do {
            try db.statement("SAVEPOINT op").runToCompletion()
        } catch {
            return operation.fail(error)  // it cannot be isolated, so it does not run
        }
        // No state yet: anything the operation creates is undone whole.
        let mark = db.transactionState?.savepointMark() ?? .start
        if operation.run(db) {
            do {
                return try db.statement("RELEASE op").runToCompletion()
            } catch {
                operation.fail(error)
            }
        }
        try? db.run("ROLLBACK TO op")
        try? db.run("RELEASE op")
        db.transactionState?.rolledBack(to: mark)
    }
}
