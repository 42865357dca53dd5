import Testing
@testable import AEXHost

@Suite struct RateWindowTests {
    @Test func admitsExactlyRPMPerSlidingMinute() {
        var window = RateWindow()
        for i in 0..<5 { #expect(window.admit(nowMillis: Int64(i) * 1_000, rpm: 5, tpm: nil, tokens: 1) == nil) }
        #expect(window.admit(nowMillis: 10_000, rpm: 5, tpm: nil, tokens: 1) == 50, "the oldest admission leaves at 60 s")
        #expect(window.admit(nowMillis: 59_999, rpm: 5, tpm: nil, tokens: 1) == 1, "Retry-After is at least one second")
        #expect(window.admit(nowMillis: 60_000, rpm: 5, tpm: nil, tokens: 1) == nil)
        #expect(window.admit(nowMillis: 60_500, rpm: 5, tpm: nil, tokens: 1) == 1)
    }

    @Test func refusalsUseNoCapacity() {
        var window = RateWindow()
        #expect(window.admit(nowMillis: 0, rpm: 1, tpm: nil, tokens: 1) == nil)
        for t in stride(from: Int64(1), to: 59_000, by: 1_000) { #expect(window.admit(nowMillis: t, rpm: 1, tpm: nil, tokens: 1) != nil) }
        #expect(window.admit(nowMillis: 60_000, rpm: 1, tpm: nil, tokens: 1) == nil)
    }

    @Test func tokensPerMinute() {
        var window = RateWindow()
        #expect(window.admit(nowMillis: 0, rpm: 100, tpm: 1_000, tokens: 600) == nil)
        #expect(window.admit(nowMillis: 1_000, rpm: 100, tpm: 1_000, tokens: 300) == nil)
        #expect(window.admit(nowMillis: 2_000, rpm: 100, tpm: 1_000, tokens: 200) == 58, "fits once the first 600 leave")
        #expect(window.admit(nowMillis: 2_000, rpm: 100, tpm: 1_000, tokens: 2_000) == 60, "never fits: a full window")
        #expect(window.admit(nowMillis: 60_000, rpm: 100, tpm: 1_000, tokens: 200) == nil)
    }
}
