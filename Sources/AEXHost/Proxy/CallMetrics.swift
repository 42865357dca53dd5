import Synchronization

/// What the governed calls did, counted for `GET /metrics`: one shard per event loop, each written
/// by its own loop under an uncontended lock and merged only when scraped, so counting costs a
/// call a few dictionary updates and no shared cache line.
///
/// Labels are bounded: agents (the registry), models (the configuration), endpoints (fixed), status
/// classes, refusal codes, tools; never a token or prompt text.
public final class CallMetrics: Sendable {
    /// One settled call's labels.
    public struct CallKey: Hashable, Sendable {
        public var agent: String
        public var model: String
        public var endpoint: String
        /// `2xx` … `5xx`.
        public var statusClass: String
    }

    public struct CallTally: Sendable, Equatable {
        public var requests: Int64 = 0
        public var promptTokens: Int64 = 0
        public var completionTokens: Int64 = 0
        public var spendMicro: Int64 = 0

        mutating func add(_ other: CallTally) {
            requests &+= other.requests
            promptTokens &+= other.promptTokens
            completionTokens &+= other.completionTokens
            spendMicro &+= other.spendMicro
        }
    }

    public struct DenialKey: Hashable, Sendable {
        public var agent: String
        public var reason: String
    }

    public struct ToolKey: Hashable, Sendable {
        public var tool: String
        /// `ok`, `failed` or `timeout`.
        public var outcome: String
    }

    /// Everything counted, one shard's worth or merged.
    public struct Counts: Sendable {
        public var calls: [CallKey: CallTally] = [:]
        public var denials: [DenialKey: Int64] = [:]
        public var tools: [ToolKey: Int64] = [:]
        /// By endpoint: from admission to settlement, and from dispatch to settlement.
        public var requestDuration: [String: Histogram] = [:]
        public var upstreamDuration: [String: Histogram] = [:]

        mutating func add(_ other: Counts) {
            for (key, tally) in other.calls { calls[key, default: CallTally()].add(tally) }
            for (key, count) in other.denials { denials[key, default: 0] &+= count }
            for (key, count) in other.tools { tools[key, default: 0] &+= count }
            for (key, histogram) in other.requestDuration { requestDuration[key, default: Histogram()].add(histogram) }
            for (key, histogram) in other.upstreamDuration { upstreamDuration[key, default: Histogram()].add(histogram) }
        }
    }

    private final class Shard: Sendable {
        let counts = Mutex(Counts())
    }

    private let shards: [Shard]

    /// `shardCount`: the event loops (a loop's index picks its shard); one more for other threads.
    public init(shardCount: Int) {
        shards = (0...max(0, shardCount)).map { _ in Shard() }
    }

    private func shard(_ index: Int) -> Shard { shards[min(max(0, index), shards.count - 1)] }

    /// A settled call (`tool`: its tool and outcome when it was a tool call).
    func recordSettled(shard index: Int, _ key: CallKey, tally: CallTally, tool: ToolKey?, requestMicros: Int64, upstreamMicros: Int64?) {
        shard(index).counts.withLock { counts in
            counts.calls[key, default: CallTally()].add(tally)
            counts.requestDuration[key.endpoint, default: Histogram()].observe(micros: requestMicros)
            if let upstreamMicros { counts.upstreamDuration[key.endpoint, default: Histogram()].observe(micros: upstreamMicros) }
            if let tool { counts.tools[tool, default: 0] &+= 1 }
        }
    }

    /// A refused request (`agent` empty for a refused credential); `reason` is its error code.
    func recordDenial(shard index: Int, agent: String, reason: String) {
        shard(index).counts.withLock { $0.denials[DenialKey(agent: agent, reason: reason), default: 0] &+= 1 }
    }

    /// Every shard merged (scrape time).
    public func snapshot() -> Counts {
        var merged = Counts()
        for shard in shards {
            let counts = shard.counts.withLock { $0 }
            merged.add(counts)
        }
        return merged
    }

    static func statusClass(_ status: Int) -> String {
        switch status {
        case 200..<300: "2xx"
        case 300..<400: "3xx"
        case 400..<500: "4xx"
        default: "5xx"
        }
    }
}
