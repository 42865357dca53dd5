/// One agent's requests and tokens over a sliding 60-second window. Pure: the caller gives the
/// clock. Exact under concurrency because the caller holds the registry's lock around `admit`.
/// Memory: one entry per admission in the last minute, so at most `rpm` entries.
public struct RateWindow: Sendable, Equatable {
    public static let windowMilliseconds: Int64 = 60_000

    private var admissions: [(atMillis: Int64, tokens: Int64)] = []
    private var head = 0
    /// Sum of the tokens of the live admissions, kept as they come and go (O(1) per admission).
    private var tokensInWindow: Int64 = 0

    public init() {}

    public static func == (lhs: RateWindow, rhs: RateWindow) -> Bool {
        lhs.live.map(\.atMillis) == rhs.live.map(\.atMillis) && lhs.live.map(\.tokens) == rhs.live.map(\.tokens)
    }

    private var live: ArraySlice<(atMillis: Int64, tokens: Int64)> { admissions[head...] }

    /// Admits one request of `tokens` if it fits `rpm` and `tpm`; otherwise returns the whole
    /// seconds (≥ 1) until it would fit. Nothing is recorded for a refusal.
    public mutating func admit(nowMillis: Int64, rpm: Int64, tpm: Int64?, tokens: Int64) -> Int? {
        if let seconds = refusal(nowMillis: nowMillis, rpm: rpm, tpm: tpm, tokens: tokens) { return seconds }
        record(nowMillis: nowMillis, tokens: tokens)
        return nil
    }

    /// Records an admission that `refusal` allowed at `nowMillis`.
    public mutating func record(nowMillis: Int64, tokens: Int64) {
        assert(tokens >= 0, "negative tokens admitted")
        assert(admissions.last.map { $0.atMillis <= nowMillis + 1_000 } ?? true, "admissions out of time order")
        admissions.append((nowMillis, tokens))
        tokensInWindow &+= tokens
    }

    /// Sets the tokens of the admission made at `atMillis` for `admittedTokens` to what the call
    /// really used (its settlement knows): lower or higher. False when it has left the window.
    @discardableResult
    public mutating func correct(atMillis: Int64, admittedTokens: Int64, actualTokens: Int64) -> Bool {
        guard admittedTokens != actualTokens else { return true }
        guard let index = admissions[head...].lastIndex(where: { $0.atMillis == atMillis && $0.tokens == admittedTokens }) else { return false }
        assert(actualTokens >= 0, "negative tokens used")
        admissions[index].tokens = actualTokens
        tokensInWindow = tokensInWindow &- admittedTokens &+ actualTokens
        assert(tokensInWindow >= 0, "the window's token sum went negative")
        return true
    }

    /// The whole seconds (≥ 1) until a request of `tokens` would fit `rpm` and `tpm`, or nil when
    /// it fits now. Records nothing.
    public mutating func refusal(nowMillis: Int64, rpm: Int64, tpm: Int64?, tokens: Int64) -> Int? {
        expire(nowMillis: nowMillis)
        let count = Int64(admissions.count - head)
        let used = tokensInWindow
        if count >= rpm {
            let oldest = admissions[head + Int(count - rpm)].atMillis
            return Self.seconds(untilMillis: oldest + Self.windowMilliseconds - nowMillis)
        }
        if let tpm, used &+ tokens > tpm {
            guard tokens <= tpm else { return Int(Self.windowMilliseconds / 1_000) }
            var freed: Int64 = 0
            for entry in live {
                freed &+= entry.tokens
                if used &- freed &+ tokens <= tpm {
                    return Self.seconds(untilMillis: entry.atMillis + Self.windowMilliseconds - nowMillis)
                }
            }
            return Int(Self.windowMilliseconds / 1_000)
        }
        return nil
    }

    /// Takes back the admission made at `atMillis` for `tokens` (the call it admitted never went
    /// out): the newest matching entry leaves the window. False when none is there (expired).
    @discardableResult
    public mutating func withdraw(atMillis: Int64, tokens: Int64) -> Bool {
        guard let index = admissions[head...].lastIndex(where: { $0.atMillis == atMillis && $0.tokens == tokens }) else { return false }
        admissions.remove(at: index)
        tokensInWindow &-= tokens
        return true
    }

    /// Drops entries older than the window; compacts occasionally.
    private mutating func expire(nowMillis: Int64) {
        while head < admissions.count, admissions[head].atMillis + Self.windowMilliseconds <= nowMillis {
            tokensInWindow &-= admissions[head].tokens
            head += 1
        }
        if head > 64, head * 2 > admissions.count {
            admissions.removeFirst(head)
            head = 0
        }
    }

    /// Requests admitted in the window ending at `nowMillis` (the agent's rate use).
    public func requests(nowMillis: Int64) -> Int {
        live.reduce(0) { $0 + ($1.atMillis + Self.windowMilliseconds > nowMillis ? 1 : 0) }
    }

    private static func seconds(untilMillis: Int64) -> Int { max(1, Int((untilMillis + 999) / 1_000)) }
}
