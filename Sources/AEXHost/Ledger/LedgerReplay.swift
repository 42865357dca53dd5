/// Every agent's spent and reserved, recomputed from ledger events alone (SPEC §10). Pure: feed it
/// the events in sequence order.
///
/// reservation: reserved += amount_micro · commit: reserved −= reserved_micro, spent += cost_micro ·
/// release: reserved −= released_micro · recovery: reserved −= amount_micro, and spent +=
/// amount_micro when the decision was "charged". Other events move no money. The payloads are
/// read by `MoneyEventPayload`'s decoder, the counterpart of the encoder that wrote them.
public struct LedgerReplay: Sendable {
    /// An agent's counters as the events say: every change of its money summed from zero.
    public typealias Balance = BalanceChange

    /// A money event whose payload lacks what the replay needs.
    public struct Malformed: Error, Sendable, Equatable {
        public let reason: String
    }

    public private(set) var balances: [Int64: Balance] = [:]

    public init() {}

    public mutating func apply(type: String, agentID: Int64?, payloadText: [UInt8]) throws(Malformed) {
        guard let event = LedgerEventType(rawValue: type) else { return }
        switch event {
        case .reservation, .commit, .release, .recovery: break
        case .agentCreated:
            if let agentID, balances[agentID] == nil { balances[agentID] = Balance() }
            return
        default: return
        }
        guard let agentID else { throw Malformed(reason: "a \(type) event without an agent") }
        let change: BalanceChange
        do {
            change = try MoneyEventPayload.decode(type: event, payloadText)?.balanceChange ?? .none
        } catch {
            throw Malformed(reason: error.reason)
        }
        var balance = balances[agentID] ?? Balance()
        do {
            try balance.add(change)
        } catch {
            throw Malformed(reason: "a \(type) event takes a balance past the range of micro-USD")
        }
        balances[agentID] = balance
    }
}
