/// Every agent's spent and reserved, recomputed from ledger events alone (SPEC §10). Pure: feed it
/// the events in sequence order.
///
/// reservation: reserved += amount_micro · commit: reserved −= reserved_micro, spent += cost_micro ·
/// release: reserved −= released_micro · recovery: reserved −= amount_micro, and spent +=
/// amount_micro when the decision was "charged". Other events move no money.
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
        guard let payload = try? JSONTape.parse(payloadText), payload.kind(JSONTape.root) == .object else {
            throw Malformed(reason: "a \(type) event whose payload is not a JSON object")
        }
        func amount(_ key: StaticString) throws(Malformed) -> Int64 {
            guard let node = payload.member(JSONTape.root, key), let value = payload.int(node), value >= 0 else {
                throw Malformed(reason: "a \(type) event without a whole non-negative '\(key)'")
            }
            return value
        }
        let change: BalanceChange
        switch event {
        case .reservation:
            change = .reservation(MicroUSD(try amount("amount_micro")))
        case .commit:
            change = .settlement(reserved: MicroUSD(try amount("reserved_micro")), cost: MicroUSD(try amount("cost_micro")))
        case .release:
            change = .settlement(reserved: MicroUSD(try amount("released_micro")), cost: .zero)
        default:  // recovery
            let value = MicroUSD(try amount("amount_micro"))
            let decision = payload.member(JSONTape.root, "decision")
            if let decision, payload.textEquals(decision, "charged") {
                change = .settlement(reserved: value, cost: value)
            } else if let decision, payload.textEquals(decision, "released") {
                change = .settlement(reserved: value, cost: .zero)
            } else {
                throw Malformed(reason: "a recovery event without a decision")
            }
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
