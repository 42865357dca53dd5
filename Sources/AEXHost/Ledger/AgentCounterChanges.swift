/// Changes to agents' `spent_micro` and `reserved_micro` made by the operations of the open
/// transaction, written as one UPDATE per agent just before COMMIT: a batch of a thousand calls of
/// one agent moves its row once instead of two thousand times.
///
/// Invariants: the `agents` counters are exact at every commit; inside a transaction they lag until
/// applied, so code that reads them there applies the pending changes first (`AgentTable` does).
/// Changes applied inside an operation's savepoint are undone with it, so a savepoint's `Mark`
/// records both how many changes existed and how many were applied: rolling back restores both
/// (changes of earlier operations become pending again). The store writer discards everything
/// once the transaction commits or rolls back.
struct AgentCounterChanges {
    private struct Change {
        var agentID: Int64
        var change: BalanceChange
    }

    /// Where a savepoint starts.
    struct Mark {
        let count: Int
        let applied: Int

        init(count: Int, applied: Int) {
            self.count = count
            self.applied = applied
        }
    }

    private var changes: [Change] = []
    /// `changes[..<applied]` are already in the `agents` rows of the open transaction.
    private var applied = 0

    var hasPending: Bool { applied < changes.count }

    var mark: Mark { Mark(count: changes.count, applied: applied) }

    mutating func add(agentID: Int64, _ change: BalanceChange) {
        changes.append(Change(agentID: agentID, change: change))
    }

    /// The savepoint that started at `mark` rolled back, and with it any UPDATE made inside it.
    mutating func rollback(to mark: Mark) {
        assert(mark.applied <= mark.count, "a savepoint mark with more applied than made")
        changes.removeSubrange(min(mark.count, changes.count)...)
        applied = min(applied, mark.applied)
    }

    /// The transaction ended (committed or rolled back).
    mutating func discard() {
        changes.removeAll(keepingCapacity: true)
        applied = 0
    }

    /// The pending changes summed by agent, in first-seen order; a sum past the range of micro-USD
    /// throws.
    fileprivate func pending() throws(MoneyError) -> [(agentID: Int64, change: BalanceChange)] {
        var summed: [(agentID: Int64, change: BalanceChange)] = []
        for change in changes[applied...] {
            if let index = summed.firstIndex(where: { $0.agentID == change.agentID }) {
                try summed[index].change.add(change.change)
            } else {
                summed.append((change.agentID, change.change))
            }
        }
        return summed
    }

    fileprivate mutating func markAllApplied() {
        assert(applied <= changes.count, "more counter changes applied than made")
        applied = changes.count
    }
}

extension SQLiteDatabase {
    /// Writes the pending counter changes into the open transaction (one UPDATE per agent). If an
    /// UPDATE fails, nothing is marked applied; the caller's savepoint or transaction undoes the rest.
    func flushAgentCounterChanges() throws {
        let state = ledgerState
        guard state.counterChanges.hasPending else { return }
        let update = try statement("UPDATE agents SET spent_micro = spent_micro + ?, reserved_micro = reserved_micro + ? WHERE id = ?")
        for pending in try state.counterChanges.pending() {
            try update.bind(1, pending.change.spent.value)
            try update.bind(2, pending.change.reserved.value)
            try update.bind(3, pending.agentID)
            try update.runToCompletion()
        }
        state.counterChanges.markAllApplied()
    }
}
