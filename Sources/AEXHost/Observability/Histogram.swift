/// A Prometheus histogram of durations in seconds: cumulative-ready bucket counts over fixed upper
/// bounds, their sum and count. A value; whoever owns one synchronises it.
public struct Histogram: Sendable, Equatable {
    /// Upper bounds in seconds, from 0.5 ms to 2 min (the `+Inf` bucket is `count`).
    public static let boundsSeconds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

    /// Observations at or below each bound and above the previous one (not cumulative).
    public private(set) var bucketCounts = [Int64](repeating: 0, count: Histogram.boundsSeconds.count)
    public private(set) var sumSeconds: Double = 0
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func observe(seconds: Double) {
        let value = max(0, seconds)
        if let index = Self.boundsSeconds.firstIndex(where: { value <= $0 }) { bucketCounts[index] += 1 }
        sumSeconds += value
        count += 1
    }

    public mutating func observe(micros: Int64) { observe(seconds: Double(micros) / 1_000_000) }

    public mutating func add(_ other: Histogram) {
        for index in bucketCounts.indices { bucketCounts[index] += other.bucketCounts[index] }
        sumSeconds += other.sumSeconds
        count += other.count
    }
}
