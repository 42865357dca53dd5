/// Changes to agents' `spent_micro` and `reserved_micro` made by the operations of the open
/// transaction, written as one UPDATE per agent just before COMMIT: a batch of a thousand calls of
/// one agent moves its row once instead of two thousand times.
///
/// Invariants: the `agents` counters are exact at every commit; inside a transaction they lag until
/// `flush`, so code that reads them there flushes first (`AgentTable` does). The store writer
/// truncates back to a savepoint's mark when that savepoint rolls back and discards everything
/// when the transaction does.
struct AgentCounterChanges {
    private struct Change {
        var agentID: Int64
        var spentMicro: Int64
        var reservedMicro: Int64
    }

    private var changes: [Change] = []

    var isEmpty: Bool { changes.isEmpty }

    /// Where a savepoint starts.
    var mark: Int { changes.count }

    mutating func add(agentID: Int64, spentMicro: Int64, reservedMicro: Int64) {
        changes.append(Change(agentID: agentID, spentMicro: spentMicro, reservedMicro: reservedMicro))
    }

    mutating func rollback(to mark: Int) {
        changes.removeSubrange(mark...)
    }

    mutating func discard() {
        changes.removeAll(keepingCapacity: true)
    }

    /// The summed changes by agent, in first-seen order; empties the list.
    mutating func take() -> [(agentID: Int64, spentMicro: Int64, reservedMicro: Int64)] {
        var summed: [(agentID: Int64, spentMicro: Int64, reservedMicro: Int64)] = []
        for change in changes {
            if let index = summed.firstIndex(where: { $0.agentID == change.agentID }) {
                summed[index].spentMicro &+= change.spentMicro
                summed[index].reservedMicro &+= change.reservedMicro
            } else {
                summed.append((change.agentID, change.spentMicro, change.reservedMicro))
            }
        }
        changes.removeAll(keepingCapacity: true)
        return summed
    }
}

extension SQLiteDatabase {
    /// Writes the pending counter changes of the open transaction (one UPDATE per agent).
    func flushAgentCounterChanges() throws(SQLiteError) {
        guard !agentCounterChanges.isEmpty else { return }
        let pending = agentCounterChanges.take()
        let update = try statement("UPDATE agents SET spent_micro = spent_micro + ?, reserved_micro = reserved_micro + ? WHERE id = ?")
        for change in pending {
            try update.bind(1, change.spentMicro)
            try update.bind(2, change.reservedMicro)
            try update.bind(3, change.agentID)
            try update.runToCompletion()
        }
    }
}
