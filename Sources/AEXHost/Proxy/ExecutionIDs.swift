import Synchronization

/// Execution ids: `exec_` and 14 lower-case hex digits of a number that only grows, across restarts
/// too — it starts at the larger of the clock in microseconds and the last id in the database, plus
/// one. So ids are unique without a random part, short, and each new `executions` row lands at the
/// end of its index.
final class ExecutionIDs: Sendable {
    static let prefix = "exec_"
    static let digits = 14

    private let next: Atomic<UInt64>

    init(startingAfter last: UInt64?, nowMicros: Int64) {
        next = Atomic(max(UInt64(max(nowMicros, 0)), (last ?? 0) &+ 1))
    }

    func make() -> String {
        let number = next.add(1, ordering: .relaxed).oldValue
        assert(number < 1 << 56, "execution ids past 14 hex digits")
        return Self.format(number)
    }

    static func format(_ number: UInt64) -> String {
        let hex = String(number, radix: 16)
        return prefix + String(repeating: "0", count: max(0, digits - hex.count)) + hex
    }

    static func number(_ id: String) -> UInt64? {
        guard id.utf8.count == prefix.utf8.count + digits, id.hasPrefix(prefix) else { return nil }
        return UInt64(id.dropFirst(prefix.count), radix: 16)
    }

}
