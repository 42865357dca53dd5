import Dispatch
import Synchronization

/// The stored answers' life outside the writer's transactions: finding one for a request (on a
/// serial queue of its own, through a read-only connection confined to it: no loop touches SQLite
/// and no lookup waits for a commit; the answer comes back on the request's loop), and the
/// periodic sweep that purges the expired ones through the writer. Storing happens with the
/// settlement (`CallLedger.settle`).
///
/// An answer counts as stored for `ttlSeconds` after its commit whether or not the sweep has run;
/// the sweep only gives the space back. Bounded work: each sweep deletes at most
/// `sweepRowsMax` rows per writer operation, and submits the next batch only after that one
/// committed.
public final class IdempotentAnswerStore: Sendable {
    /// Rows one purge operation deletes at most (the writer runs other calls' work in between).
    static let sweepRowsMax = 1_000

    public struct Limits: Sendable, Equatable {
        /// How long an answer is replayed after its call committed.
        public var ttlSeconds: Int
        /// How often expired answers are purged.
        public var sweepSeconds: Int
        /// The stored bodies' total size; the oldest are dropped first to stay within it.
        public var bytesMax: Int

        public init(ttlSeconds: Int, sweepSeconds: Int, bytesMax: Int) {
            self.ttlSeconds = ttlSeconds
            self.sweepSeconds = sweepSeconds
            self.bytesMax = bytesMax
        }
    }

    public let limits: Limits
    private let databasePath: String
    private let writer: StoreWriter
    private let logger: Logger?
    private let now: @Sendable () -> Int64
    private let queue = DispatchQueue(label: "aex.idempotent-answers")
    /// Confined to `queue`.
    private nonisolated(unsafe) var reader: SQLiteDatabase?
    private let sweeping = Atomic<Bool>(false)

    public init(databasePath: String, writer: StoreWriter, limits: Limits, logger: Logger? = nil,
                now: @escaping @Sendable () -> Int64 = WallClock.nowMicros) {
        self.databasePath = databasePath
        self.writer = writer
        self.limits = limits
        self.logger = logger
        self.now = now
    }

    /// The answers stored at or after this instant are live.
    var liveSinceMicros: Int64 { now() &- Int64(limits.ttlSeconds) &* 1_000_000 }

    /// Looks for the live answer stored for `scope`; `then` runs on `loop` with it (nil: none).
    public func lookup(_ scope: IdempotencyScope, on loop: EventLoop,
                      then: @escaping @Sendable (Result<IdempotentAnswer?, any Error>) -> Void) {
        queue.async { [self] in
            let found = Result { try find(scope) }
            loop.execute { then(found) }
        }
    }

    /// The same, waited for (tests, start-up; never on a loop).
    func lookup(_ scope: IdempotencyScope) throws -> IdempotentAnswer? {
        try queue.sync { try find(scope) }
    }

    /// On `queue` only.
    private func find(_ scope: IdempotencyScope) throws -> IdempotentAnswer? {
        if reader == nil { reader = try SQLiteDatabase(path: databasePath, readOnly: true) }
        return try IdempotentAnswers.lookup(scope, storedSinceMicros: liveSinceMicros, reader!)
    }

    /// Purges expired answers now, then every `sweepSeconds`, until the writer stops.
    public func startSweeping() {
        guard !sweeping.exchange(true, ordering: .relaxed) else { return }
        sweep()
    }

    private func sweep() {
        let before = liveSinceMicros
        writer.submit({ db in try IdempotentAnswers.purge(storedBeforeMicros: before, rowsMax: Self.sweepRowsMax, db) }) { [self] result in
            switch result {
            case .success(let purged) where purged == Self.sweepRowsMax:
                sweep()  // more are expired: the next batch at once
            case .success, .failure:
                if case .failure(let error) = result {
                    if case StoreError.writerStopped? = error as? StoreError { return }
                    logger?.warn("idempotent answers not purged; retrying at the next sweep", ["error": .string("\(error)")])
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(limits.sweepSeconds)) { [self] in sweep() }
            }
        }
    }
}
