/// What another concern keeps on a connection for the open transaction (the ledger keeps its
/// chain head and its pending counter changes). The store writer calls these hooks at the
/// transaction's edges without knowing what is inside.
protocol TransactionState: AnyObject {
    /// Inside the transaction, just before COMMIT: write what was held back.
    func beforeCommit(_ db: SQLiteDatabase) throws
    /// The transaction committed.
    func committed()
    /// The transaction rolled back: forget everything it held.
    func rolledBack()
    /// Where a savepoint starts, to come back to if it rolls back.
    func savepointMark() -> TransactionStateMark
    /// The savepoint that started at `mark` rolled back.
    func rolledBack(to mark: TransactionStateMark)
}

/// A position in a `TransactionState`, opaque to the writer.
struct TransactionStateMark {
    let first: Int
    let second: Int

    /// Before anything was kept.
    static let start = TransactionStateMark(first: 0, second: 0)
}
