import Dispatch
import Synchronization

/// Settlements the ledger refused (disk full, an I/O error, a lock held longer than the busy
/// timeout), written again until they land.
///
/// When a call ends, the agent's balance in memory moves at once; if the ledger then refuses the
/// settlement, the database still holds the reservation open. Without a retry it would stay open
/// until the next start, when recovery charges the whole reservation instead of the actual cost.
/// Each retry waits twice as long as the one before (from `firstDelayMilliseconds` up to
/// `delayMaxMilliseconds`). Retrying stops when the settlement lands, when the execution is no
/// longer open (`ExecutionLedger.ReservationNotOpen`: nothing is left to settle), or when the
/// writer stops — the next start's recovery then resolves the reservation as SPEC §7 says.
final class SettlementRetry: Sendable {
    static let firstDelayMilliseconds = 250
    static let delayMaxMilliseconds = 30_000

    private let writer: StoreWriter
    private let logger: Logger?
    private let waiting = Atomic<Int>(0)

    init(writer: StoreWriter, logger: Logger?) {
        self.writer = writer
        self.logger = logger
    }

    /// Settlements written again later and not landed yet.
    var pending: Int { waiting.load(ordering: .relaxed) }

    /// Takes a settlement the writer refused with `error`; `write` is the same write.
    func retry(executionID: String, after error: any Error, _ write: @escaping @Sendable (SQLiteDatabase) throws -> Void) {
        guard Self.isWorthRetrying(error) else {
            logger?.error("settlement not recorded", ["execution_id": .string(executionID), "error": .string("\(error)")])
            return
        }
        waiting.add(1, ordering: .relaxed)
        logger?.warn("settlement not recorded; retrying", ["execution_id": .string(executionID), "error": .string("\(error)")])
        schedule(executionID: executionID, delayMilliseconds: Self.firstDelayMilliseconds, attempt: 1, write)
    }

    private func schedule(executionID: String, delayMilliseconds: Int, attempt: Int,
                          _ write: @escaping @Sendable (SQLiteDatabase) throws -> Void) {
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delayMilliseconds)) { [self] in
            writer.submit(write) { [self] result in
                switch result {
                case .success:
                    waiting.subtract(1, ordering: .relaxed)
                    logger?.info("settlement recorded after retrying", ["execution_id": .string(executionID), "attempts": .int(Int64(attempt))])
                case .failure(let error) where Self.isWorthRetrying(error):
                    schedule(executionID: executionID, delayMilliseconds: min(delayMilliseconds * 2, Self.delayMaxMilliseconds),
                             attempt: attempt + 1, write)
                case .failure(let error):
                    waiting.subtract(1, ordering: .relaxed)
                    logger?.error("settlement not recorded", ["execution_id": .string(executionID), "error": .string("\(error)")])
                }
            }
        }
    }

    /// A stopped writer takes nothing more, and a reservation that is not open has nothing left to
    /// settle; anything else may pass (a full disk gets space, a lock is released).
    static func isWorthRetrying(_ error: any Error) -> Bool {
        if error is ExecutionLedger.ReservationNotOpen { return false }
        if case StoreError.writerStopped? = error as? StoreError { return false }
        return true
    }
}
