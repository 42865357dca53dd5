/// An amount of money in integer micro-USD (1 USD = 1,000,000). No floating point touches money.
/// Arithmetic is checked: an overflow is a thrown error, never a wrap or a trap.
public struct MicroUSD: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let perUSD: Int64 = 1_000_000
    public static let zero = MicroUSD(0)

    public let value: Int64

    public init(_ value: Int64) { self.value = value }

    public static func < (lhs: MicroUSD, rhs: MicroUSD) -> Bool { lhs.value < rhs.value }

    public func adding(_ other: MicroUSD) throws(MoneyError) -> MicroUSD {
        let (sum, overflow) = value.addingReportingOverflow(other.value)
        if overflow { throw .overflow }
        return MicroUSD(sum)
    }

    public func subtracting(_ other: MicroUSD) throws(MoneyError) -> MicroUSD {
        let (difference, overflow) = value.subtractingReportingOverflow(other.value)
        if overflow { throw .overflow }
        return MicroUSD(difference)
    }

    /// Exact decimal dollars with trailing zeros trimmed to at least two decimals: `2.01`, `0.000001`.
    public var description: String { MoneyFormat.usd(self) }
}

public enum MoneyError: Error, Equatable, Sendable, CustomStringConvertible {
    case notANumber
    case negative
    case tooManyDecimals
    case overflow

    public var description: String {
        switch self {
        case .notANumber: return "expected a decimal number of US dollars, such as 2.01"
        case .negative: return "amounts of money cannot be negative"
        case .tooManyDecimals: return "at most 6 decimals (micro-USD) are allowed"
        case .overflow: return "amount is too large"
        }
    }
}
