/// What the ledger keeps on a connection for the open transaction: the event log's head (so each
/// append need not read it back) and the agents' counter changes (written once per agent at
/// commit). The store writer calls its hooks at the transaction's edges (`TransactionState`).
final class LedgerTransactionState: TransactionState {
    /// The event log's last (seq, hash) as this connection last wrote or read it; nil when unknown.
    var eventLogHead: EventLog.Head?
    var counterChanges = AgentCounterChanges()

    func beforeCommit(_ db: SQLiteDatabase) throws { try db.flushAgentCounterChanges() }

    func committed() { counterChanges.discard() }

    func rolledBack() {
        eventLogHead = nil
        counterChanges.discard()
    }

    func savepointMark() -> TransactionStateMark {
        let mark = counterChanges.mark
        return TransactionStateMark(first: mark.count, second: mark.applied)
    }

    func rolledBack(to mark: TransactionStateMark) {
        eventLogHead = nil  // the rolled-back entries are gone
        counterChanges.rollback(to: .init(count: mark.first, applied: mark.second))
    }
}

extension SQLiteDatabase {
    /// The ledger's state on this connection, created on first use.
    var ledgerState: LedgerTransactionState {
        if let state = transactionState {
            // The ledger is the only concern that keeps state on a connection.
            assert(state is LedgerTransactionState, "another concern's transaction state")
            return unsafeDowncast(state, to: LedgerTransactionState.self)
        }
        let state = LedgerTransactionState()
        transactionState = state
        return state
    }
}
