/// Every agent's spent and reserved, recomputed from ledger events alone (SPEC §10). Pure: feed it
/// the events in sequence order.
///
/// reservation: reserved += amount_micro · commit: reserved −= reserved_micro, spent += cost_micro ·
/// release: reserved −= released_micro · recovery: reserved −= amount_micro, and spent +=
/// amount_micro when the decision was "charged". Other events move no money.
public struct LedgerReplay: Sendable {
    public struct Balance: Sendable, Equatable {
        public var spentMicro: Int64 = 0
        public var reservedMicro: Int64 = 0
    }

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
        var balance = balances[agentID] ?? Balance()
        func add(_ amount: Int64, to value: inout Int64) throws(Malformed) {
            let (sum, overflow) = value.addingReportingOverflow(amount)
            guard !overflow else { throw Malformed(reason: "a \(type) event takes a balance past the range of micro-USD") }
            value = sum
        }
        switch event {
        case .reservation:
            try add(try amount("amount_micro"), to: &balance.reservedMicro)
        case .commit:
            try add(-(try amount("reserved_micro")), to: &balance.reservedMicro)
            try add(try amount("cost_micro"), to: &balance.spentMicro)
        case .release:
            try add(-(try amount("released_micro")), to: &balance.reservedMicro)
        default:  // recovery
            let value = try amount("amount_micro")
            try add(-value, to: &balance.reservedMicro)
            let decision = payload.member(JSONTape.root, "decision")
            if let decision, payload.textEquals(decision, "charged") {
                try add(value, to: &balance.spentMicro)
            } else if decision == nil || !payload.textEquals(decision!, "released") {
                throw Malformed(reason: "a recovery event without a decision")
            }
        }
        balances[agentID] = balance
    }
}
