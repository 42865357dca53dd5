import Testing
@testable import AEXHost

@Suite struct CurlTimerTests {
    /// Arms as `Egress` does: the action, then `armed` when it arms.
    func apply(_ action: CurlTimer.Action, _ timer: inout CurlTimer, now: Int64) -> Int64? {
        guard case .arm(let milliseconds) = action else { return nil }
        timer.armed(deadline: now + milliseconds)
        return milliseconds
    }

    @Test func aFirstDeadlineArmsAndAnEarlierOneRearms() {
        var timer = CurlTimer()
        #expect(apply(timer.requested(milliseconds: 2_000, now: 0), &timer, now: 0) == 2_000)
        #expect(apply(timer.requested(milliseconds: 500, now: 10), &timer, now: 10) == 500, "earlier: re-armed")
        #expect(timer.armedDeadline == 510)
    }

    @Test func aLaterDeadlineKeepsTheArmedOneAndIsArmedAfterItFires() {
        // A finished transfer armed 2,000 ms; the next one asks 2,000 ms from t=10. libcurl does not
        // repeat a deadline it gave, so after the early firing the timer must be armed again for it.
        var timer = CurlTimer()
        _ = apply(timer.requested(milliseconds: 2_000, now: 0), &timer, now: 0)
        #expect(timer.requested(milliseconds: -1, now: 5) == .none, "no timeout: the armed one is left")
        #expect(timer.requested(milliseconds: 2_000, now: 10) == .none, "later than the armed one: kept, no system call")
        timer.fired()
        #expect(timer.afterTimeouts(now: 2_000) == .arm(milliseconds: 10), "re-armed for the deadline libcurl still wants")
    }

    @Test func nothingIsArmedAgainWhenLibcurlWantsNoTimeout() {
        var timer = CurlTimer()
        _ = apply(timer.requested(milliseconds: 100, now: 0), &timer, now: 0)
        _ = timer.requested(milliseconds: -1, now: 50)
        timer.fired()
        #expect(timer.afterTimeouts(now: 100) == .none)
    }

    @Test func aZeroTimeoutIsDueAtOnceWithoutArming() {
        var timer = CurlTimer()
        #expect(timer.requested(milliseconds: 0, now: 0) == .none)
        #expect(timer.actionDue)
        #expect(timer.armedDeadline == nil)
    }

    @Test func aDeadlineAlreadyPassedWhenCheckedArmsOneMillisecond() {
        var timer = CurlTimer()
        _ = apply(timer.requested(milliseconds: 20, now: 0), &timer, now: 0)
        timer.fired()
        #expect(timer.afterTimeouts(now: 25) == .arm(milliseconds: 1))
    }
}
