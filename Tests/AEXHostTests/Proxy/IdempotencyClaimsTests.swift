import Synchronization
import Testing
@testable import AEXHost

/// One holder per scope; duplicates wait and get its answer, or, when it fails, one of them runs;
/// another body is a conflict; a claim dropped unresolved lets the next waiter run.
@Suite struct IdempotencyClaimsTests {
    static let scope = IdempotencyScope(agentID: 1, endpoint: "chat/completions", key: "k")
    static let answer = IdempotentAnswer(scope: scope, requestSHA256: "r", executionID: "e1", status: 200, contentType: "application/json",
                                         cost: MicroUSD(35), body: Array("{}".utf8))

    final class Recorder: Sendable {
        let outcomes = Mutex<[String]>([])
        let fresh = Mutex<[IdempotencyClaim]>([])

        func waiter(_ name: String) -> IdempotencyClaims.Waiter {
            { resolution in
                switch resolution {
                case .replay(let answer): self.outcomes.withLock { $0.append("\(name) replay \(answer.executionID)") }
                case .runFresh(let claim):
                    self.outcomes.withLock { $0.append("\(name) runs") }
                    self.fresh.withLock { $0.append(claim) }
                }
            }
        }
        var log: [String] { outcomes.withLock { $0 } }
    }

    func holder(_ joined: IdempotencyClaims.Joined) -> IdempotencyClaim? {
        if case .holder(let claim) = joined { return claim }
        return nil
    }

    @Test func duplicatesWaitAndGetTheAnswerAnotherBodyConflicts() {
        let claims = IdempotencyClaims()
        let recorder = Recorder()
        let first = holder(claims.join(Self.scope, requestSHA256: "r", waiter: recorder.waiter("first")))
        #expect(first != nil)
        for name in ["a", "b", "c"] {
            guard case .waiting = claims.join(Self.scope, requestSHA256: "r", waiter: recorder.waiter(name)) else { Issue.record("not waiting"); return }
        }
        guard case .conflict = claims.join(Self.scope, requestSHA256: "other", waiter: recorder.waiter("x")) else { Issue.record("no conflict"); return }
        var elsewhere = Self.scope
        elsewhere.agentID = 2
        let other = holder(claims.join(elsewhere, requestSHA256: "other", waiter: recorder.waiter("y")))
        #expect(other != nil, "another agent's scope is its own")
        first?.fulfil(Self.answer)
        first?.abandon()
        #expect(recorder.log == ["a replay e1", "b replay e1", "c replay e1"], "each waiter once, in arrival order")
        #expect(claims.heldCount == 1)
        other?.fulfil(Self.answer)
        #expect(claims.heldCount == 0)
        #expect(holder(claims.join(Self.scope, requestSHA256: "r", waiter: recorder.waiter("later"))) != nil, "the scope is free again")
    }

    @Test func aFailedHolderHandsTheScopeToOneWaiter() {
        let claims = IdempotencyClaims()
        let recorder = Recorder()
        let first = holder(claims.join(Self.scope, requestSHA256: "r", waiter: recorder.waiter("first")))
        _ = claims.join(Self.scope, requestSHA256: "r", waiter: recorder.waiter("a"))
        _ = claims.join(Self.scope, requestSHA256: "r", waiter: recorder.waiter("b"))
        first?.abandon()
        #expect(recorder.log == ["a runs"])
        let second = recorder.fresh.withLock { $0.removeFirst() }
        second.fulfil(Self.answer)
        #expect(recorder.log == ["a runs", "b replay e1"])
        #expect(claims.heldCount == 0)
    }

    @Test func aClaimDroppedUnresolvedIsAbandoned() {
        let claims = IdempotencyClaims()
        let recorder = Recorder()
        do {
            let first = holder(claims.join(Self.scope, requestSHA256: "r", waiter: recorder.waiter("first")))
            _ = claims.join(Self.scope, requestSHA256: "r", waiter: recorder.waiter("a"))
            #expect(first != nil)
        }
        #expect(recorder.log == ["a runs"], "a refusal path that only drops its claim still lets the next duplicate run")
        recorder.fresh.withLock { $0.removeAll() }
        #expect(claims.heldCount == 0)
    }

    @Test func keysAreOneValueOf1To255PrintableASCIICharacters() {
        #expect(IdempotencyKey.validated(["a"]) == "a")
        #expect(IdempotencyKey.validated([String(repeating: "k", count: 255)]) != nil)
        #expect(IdempotencyKey.validated(["with space ~!"]) == "with space ~!")
        for bad in [[""], [String(repeating: "k", count: 256)], ["clé"], ["tab\there"], ["a\u{7f}"], ["a", "a"], []] {
            #expect(IdempotencyKey.validated(bad) == nil, "\(bad)")
        }
    }
}
