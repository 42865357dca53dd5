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
        var spentMicro: Int64
        var reservedMicro: Int64
    }

    /// Where a savepoint starts.
    struct Mark {
        fileprivate let count: Int
        fileprivate let applied: Int
    }

    private var changes: [Change] = []
    /// `changes[..<applied]` are already in the `agents` rows of the open transaction.
    private var applied = 0

    var hasPending: Bool { applied < changes.count }

    var mark: Mark { Mark(count: changes.count, applied: applied) }

    mutating func add(agentID: Int64, spentMicro: Int64, reservedMicro: Int64) {
        changes.append(Change(agentID: agentID, spentMicro: spentMicro, reservedMicro: reservedMicro))
    }

    /// The savepoint that started at `mark` rolled back, and with it any UPDATE made inside it.
    mutating func rollback(to mark: Mark) {
        changes.removeSubrange(mark.count...)
        applied = min(applied, mark.applied)
    }

    /// The transaction ended (committed or rolled back).
    mutating func discard() {
        changes.removeAll(keepingCapacity: true)
        applied = 0
    }

    /// The pending changes summed by agent, in first-seen order.
    fileprivate func pending() -> [(agentID: Int64, spentMicro: Int64, reservedMicro: Int64)] {
        var summed: [(agentID: Int64, spentMicro: Int64, reservedMicro: Int64)] = []
        for change in changes[applied...] {
            if let index = summed.firstIndex(where: { $0.agentID == change.agentID }) {
                summed[index].spentMicro &+= change.spentMicro
                summed[index].reservedMicro &+= change.reservedMicro
            } else {
                summed.append((change.agentID, change.spentMicro, change.reservedMicro))
            }
        }
        return summed
    }

    fileprivate mutating func markAllApplied() {
        applied = changes.count
    }
}

extension SQLiteDatabase {
    /// Writes the pending counter changes into the open transaction (one UPDATE per agent). If an
    /// UPDATE fails, nothing is marked applied; the caller's savepoint or transaction undoes the rest.
    func flushAgentCounterChanges() throws(SQLiteError) {
        guard agentCounterChanges.hasPending else { return }
        let update = try statement("UPDATE agents SET spent_micro = spent_micro + ?, reserved_micro = reserved_micro + ? WHERE id = ?")
        for change in agentCounterChanges.pending() {
            try update.bind(1, change.spentMicro)
            try update.bind(2, change.reservedMicro)
            try update.bind(3, change.agentID)
            try update.runToCompletion()
        }
        agentCounterChanges.markAllApplied()
    }
}
