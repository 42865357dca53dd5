/// When `Egress` arms its timerfd for libcurl, as a pure state machine (times in monotonic ms).
///
/// libcurl asks through its timer callback: -1 (no timeout), 0 (act now) or a delay. Re-arming a
/// timerfd costs a system call and libcurl asks several times per transfer, so an armed deadline
/// earlier than the one asked for is kept: it fires early, `Egress` runs libcurl's timeouts (a
/// no-op), and then — because libcurl does not repeat a deadline it already gave — the timer is
/// armed again for the deadline libcurl last asked for. A -1 leaves the timer as it is (a late
/// firing is harmless); a 0 is run as soon as the current call into libcurl returns.
struct CurlTimer: Equatable {
    /// What to do with the timerfd.
    enum Action: Equatable {
        case none
        case arm(milliseconds: Int64)
    }

    /// When the timerfd fires; nil while disarmed (or fired).
    private(set) var armedDeadline: Int64?
    /// The deadline libcurl last asked for; nil for none.
    private(set) var requestedDeadline: Int64?
    /// libcurl asked for an immediate action.
    var actionDue = false

    /// libcurl's timer callback.
    mutating func requested(milliseconds: Int64, now: Int64) -> Action {
        if milliseconds < 0 {
            requestedDeadline = nil
            return .none
        }
        if milliseconds == 0 {
            requestedDeadline = nil
            actionDue = true
            return .none
        }
        let deadline = now + milliseconds
        requestedDeadline = deadline
        if let armed = armedDeadline, armed <= deadline { return .none }
        return .arm(milliseconds: milliseconds)
    }

    /// The timerfd was armed as asked.
    mutating func armed(deadline: Int64) {
        armedDeadline = deadline
    }

    /// The timerfd fired (before libcurl runs its timeouts).
    mutating func fired() {
        armedDeadline = nil
    }

    /// After libcurl ran its timeouts: arm for the deadline it still wants, if nothing is armed.
    mutating func afterTimeouts(now: Int64) -> Action {
        guard armedDeadline == nil, let requested = requestedDeadline else { return .none }
        return .arm(milliseconds: max(1, requested - now))
    }
}
