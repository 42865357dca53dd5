/// One agent's money: its budget and what is spent and reserved against it. Pure; every change
/// is checked, and none wraps.
///
/// Invariants (asserted after every change): `spent ≥ 0`, `reserved ≥ 0`, and
/// `spent + reserved ≤ budget` except during an overdraft — a provider that reported more than it
/// was allowed — which `overdraft` measures and which keeps every new reservation refused until
/// the budget is topped up.
public struct Balance: Sendable, Equatable {
    public private(set) var budget: MicroUSD
    public private(set) var spent: MicroUSD
    public private(set) var reserved: MicroUSD

    public init(budget: MicroUSD, spent: MicroUSD = .zero, reserved: MicroUSD = .zero) {
        self.budget = budget
        self.spent = spent
        self.reserved = reserved
    }

    /// `spent + reserved`, saturating at `Int64.max`.
    public var committed: MicroUSD {
        let (sum, overflow) = spent.value.addingReportingOverflow(reserved.value)
        return MicroUSD(overflow ? Int64.max : sum)
    }

    /// `budget − spent − reserved`: what a new reservation may take; negative during an overdraft.
    public var remaining: MicroUSD {
        let (difference, overflow) = budget.value.subtractingReportingOverflow(committed.value)
        return MicroUSD(overflow ? Int64.min : difference)
    }

    /// How far `spent + reserved` is above the budget; zero when it is not.
    public var overdraft: MicroUSD { MicroUSD(max(0, -remaining.value)) }

    /// Reserves `amount` when `spent + reserved + amount ≤ budget`; otherwise changes nothing and
    /// returns false.
    public mutating func reserve(_ amount: MicroUSD) -> Bool {
        assert(amount.value >= 0, "a negative reservation")
        guard amount.value <= remaining.value else { return false }
        reserved = MicroUSD(reserved.value + amount.value)  // cannot overflow: ≤ budget − spent
        checkInvariants()
        return true
    }

    /// Ends a reservation of `reservedAmount`, charging `cost` (an overdraft when above it). The
    /// cost is cut so that `spent` never passes `Int64.max`; returns the cost applied.
    @discardableResult
    public mutating func settle(reserved reservedAmount: MicroUSD, cost: MicroUSD) -> MicroUSD {
        assert(cost.value >= 0 && reservedAmount.value >= 0, "negative money in a settlement")
        let applied = min(cost.value, Int64.max - spent.value)
        reserved = MicroUSD(max(0, reserved.value - reservedAmount.value))
        spent = MicroUSD(spent.value + applied)
        checkInvariants()
        return MicroUSD(applied)
    }

    /// Gives back a reservation whose call never went out.
    public mutating func withdraw(_ reservedAmount: MicroUSD) {
        settle(reserved: reservedAmount, cost: .zero)
    }

    /// A new budget (agent update); `spent` and `reserved` stay.
    public mutating func setBudget(_ newBudget: MicroUSD) {
        assert(newBudget.value >= 0, "a negative budget")
        budget = newBudget
    }

    /// Applies a change read back from the ledger (replay, counter changes); throws when a
    /// counter would leave the range of micro-USD.
    public mutating func apply(_ change: BalanceChange) throws(MoneyError) {
        spent = try spent.adding(change.spent)
        reserved = try reserved.adding(change.reserved)
    }

    private func checkInvariants() {
        assert(spent.value >= 0, "spent went negative")
        assert(reserved.value >= 0, "reserved went negative")
    }
}

/// A change to a balance's counters as the ledger records it: how much `spent` and `reserved`
/// moved (either may be negative). Summed with checked arithmetic.
public struct BalanceChange: Sendable, Equatable {
    public var spent: MicroUSD
    public var reserved: MicroUSD

    public static let none = BalanceChange(spent: .zero, reserved: .zero)

    public init(spent: MicroUSD = .zero, reserved: MicroUSD = .zero) {
        self.spent = spent
        self.reserved = reserved
    }

    /// The counters as plain micro-USD (how the ledger's replay and verifier report them).
    public init(spentMicro: Int64, reservedMicro: Int64) {
        self.init(spent: MicroUSD(spentMicro), reserved: MicroUSD(reservedMicro))
    }

    public var spentMicro: Int64 { spent.value }
    public var reservedMicro: Int64 { reserved.value }

    /// A reservation of `amount`.
    public static func reservation(_ amount: MicroUSD) -> BalanceChange { BalanceChange(spent: .zero, reserved: amount) }

    /// A settlement of a reservation of `reserved` at `cost` (zero for a release).
    public static func settlement(reserved: MicroUSD, cost: MicroUSD) -> BalanceChange {
        BalanceChange(spent: cost, reserved: MicroUSD(-reserved.value))
    }

    public mutating func add(_ other: BalanceChange) throws(MoneyError) {
        spent = try spent.adding(other.spent)
        reserved = try reserved.adding(other.reserved)
    }
}
