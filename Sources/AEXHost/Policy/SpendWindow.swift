/// One agent's spending over the last hour, in one-minute buckets: the burn rate the dashboard and
/// `aex_agent_budget_exhaustion_seconds` project from. Pure: the caller gives the clock.
/// Memory: 60 counters.
public struct SpendWindow: Sendable, Equatable {
    public static let bucketMilliseconds: Int64 = 60_000
    public static let bucketCount = 60

    private var buckets = [Int64](repeating: 0, count: SpendWindow.bucketCount)
    /// The minute (monotonic milliseconds / 60,000) of the newest bucket.
    private var newestMinute: Int64 = 0

    public init() {}

    /// Adds `micro` spent at `nowMillis`.
    public mutating func add(_ micro: Int64, nowMillis: Int64) {
        advance(to: nowMillis / Self.bucketMilliseconds)
        let index = Int(newestMinute % Int64(Self.bucketCount))
        buckets[index] = buckets[index] &+ max(0, micro)
    }

    /// What was spent in the hour ending at `nowMillis` (micro-USD).
    public func lastHourMicro(nowMillis: Int64) -> Int64 {
        var copy = self
        copy.advance(to: nowMillis / Self.bucketMilliseconds)
        return copy.buckets.reduce(0) { $0 &+ $1 }
    }

    /// Clears the buckets of the minutes that passed since the newest one.
    private mutating func advance(to minute: Int64) {
        guard minute > newestMinute else { return }
        let passed = min(minute - newestMinute, Int64(Self.bucketCount))
        for step in 1...passed {
            buckets[Int((newestMinute + step) % Int64(Self.bucketCount))] = 0
        }
        newestMinute = minute
    }
}
