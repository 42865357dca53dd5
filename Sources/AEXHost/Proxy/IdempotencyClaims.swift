import Synchronization

/// The calls with an `Idempotency-Key` running now, and the duplicates waiting for them (SPEC §8).
///
/// The first request of a scope claims it and runs (after looking for a stored answer); a
/// duplicate with the same body waits; one with another body is refused (409). When the claim is
/// fulfilled, every waiter gets the answer; when it is abandoned (the call failed, was refused, or
/// stored nothing), the first waiter becomes the new claim's holder and runs as a fresh attempt,
/// the others keep waiting on it.
///
/// Invariants: at most one claim per scope at a time; a claim is resolved exactly once — a claim
/// dropped unresolved is abandoned by its `deinit`, so no refusal path can leave waiters hanging;
/// waiters are called outside the lock, each exactly once.
final class IdempotencyClaims: Sendable {
    enum Joined {
        /// Run the call: no other holds the scope.
        case holder(IdempotencyClaim)
        /// The same request is running: `waiter` will be called with its outcome.
        case waiting
        /// The scope is held by a request with another body.
        case conflict
    }

    /// What a waiter is told.
    enum Resolution {
        /// The call succeeded: answer with this.
        case replay(IdempotentAnswer)
        /// The call failed: this waiter now holds the scope and runs afresh.
        case runFresh(IdempotencyClaim)
    }

    typealias Waiter = @Sendable (Resolution) -> Void

    private struct Entry {
        var requestSHA256: String
        var waiters: [Waiter] = []
    }

    private let entries = Mutex<[IdempotencyScope: Entry]>([:])

    /// Scopes held now (for tests and metrics).
    var heldCount: Int { entries.withLock { $0.count } }

    func join(_ scope: IdempotencyScope, requestSHA256: String, waiter: @escaping Waiter) -> Joined {
        entries.withLock { entries -> Joined in
            guard var entry = entries[scope] else {
                entries[scope] = Entry(requestSHA256: requestSHA256)
                return .holder(IdempotencyClaim(scope: scope, requestSHA256: requestSHA256, claims: self))
            }
            guard entry.requestSHA256 == requestSHA256 else { return .conflict }
            entry.waiters.append(waiter)
            entries[scope] = entry
            return .waiting
        }
    }

    fileprivate func fulfil(_ scope: IdempotencyScope, with answer: IdempotentAnswer) {
        let waiters = entries.withLock { $0.removeValue(forKey: scope)?.waiters ?? [] }
        for waiter in waiters { waiter(.replay(answer)) }
    }

    fileprivate func abandon(_ scope: IdempotencyScope) {
        let promoted = entries.withLock { entries -> (Waiter, IdempotencyClaim)? in
            guard var entry = entries[scope] else { return nil }
            guard !entry.waiters.isEmpty else {
                entries[scope] = nil
                return nil
            }
            let next = entry.waiters.removeFirst()
            entries[scope] = entry
            return (next, IdempotencyClaim(scope: scope, requestSHA256: entry.requestSHA256, claims: self))
        }
        if let (waiter, claim) = promoted { waiter(.runFresh(claim)) }
    }
}

/// Holding one scope of `IdempotencyClaims`: resolved once, by `fulfil` or `abandon` (or by being
/// dropped, which abandons it).
final class IdempotencyClaim: Sendable {
    let scope: IdempotencyScope
    let requestSHA256: String
    private let claims: IdempotencyClaims
    private let resolved = Atomic<Bool>(false)

    fileprivate init(scope: IdempotencyScope, requestSHA256: String, claims: IdempotencyClaims) {
        self.scope = scope
        self.requestSHA256 = requestSHA256
        self.claims = claims
    }

    /// The call succeeded and `answer` is stored: the waiters get it.
    func fulfil(_ answer: IdempotentAnswer) {
        guard !resolved.exchange(true, ordering: .acquiringAndReleasing) else { return }
        claims.fulfil(scope, with: answer)
    }

    /// Nothing was stored: the next waiter, if any, runs afresh.
    func abandon() {
        guard !resolved.exchange(true, ordering: .acquiringAndReleasing) else { return }
        claims.abandon(scope)
    }

    deinit { abandon() }
}
