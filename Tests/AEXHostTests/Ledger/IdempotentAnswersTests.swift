import Glibc
import Synchronization
import Testing
@testable import AEXHost

/// Stored answers of `Idempotency-Key` calls: stored with the commit (its SHA-256 in the commit
/// event), found again, replaced, bounded in total size (oldest dropped first), purged when expired.
@Suite struct IdempotentAnswersTests {
    struct Store {
        let dir = TemporaryDirectory()
        let writer: StoreWriter
        let agent: Agent

        init() throws {
            writer = try StoreWriter(path: dir.path + "/aex.db")
            agent = try TestAgents.create(writer, name: "bot", budgetMicro: 1_000_000)
        }

        var path: String { dir.path + "/aex.db" }

        func answer(_ key: String, bytes: Int, executionID: String = "e1", fill: UInt8 = 0x61) -> IdempotentAnswer {
            IdempotentAnswer(scope: IdempotencyScope(agentID: agent.id, endpoint: "chat/completions", key: key), requestSHA256: "r-" + key,
                             executionID: executionID, status: 200, contentType: "application/json", cost: MicroUSD(35),
                             body: [UInt8](repeating: fill, count: bytes))
        }

        func store(_ answer: IdempotentAnswer, bytesMax: Int, at micros: Int64) throws {
            try writer.perform { db in try IdempotentAnswers.store(answer, bytesMax: bytesMax, db, nowMicros: micros) }
        }

        func keys() throws -> [String] {
            try writer.perform { db in try db.query("SELECT idempotency_key FROM idempotent_answers ORDER BY id") { $0.text(0) } }
        }

        func totalBytes() throws -> Int64 { try writer.perform { db in try IdempotentAnswers.totalBytes(db) } }
    }

    @Test func anAnswerIsFoundAgainExactlyAndOnlyInItsScope() throws {
        let store = try Store()
        defer { store.writer.stop() }
        var built = store.answer("k", bytes: 0)
        built.body = Array("data: {\"a\":1}\n\ndata: [DONE]\n\n".utf8) + [0, 255]
        let answer = built
        try store.store(answer, bytesMax: 1_000, at: 10)
        let found = try store.writer.perform { db in try IdempotentAnswers.lookup(answer.scope, storedSinceMicros: 10, db) }
        #expect(found == answer)
        let elsewhere = IdempotencyScope(agentID: answer.scope.agentID, endpoint: "embeddings", key: answer.scope.key)
        let other = try store.writer.perform { db in try IdempotentAnswers.lookup(elsewhere, storedSinceMicros: 0, db) }
        #expect(other == nil)
        let expired = try store.writer.perform { db in try IdempotentAnswers.lookup(answer.scope, storedSinceMicros: 11, db) }
        #expect(expired == nil, "an answer older than the live window is not replayed, swept or not")
    }

    @Test func aNewAnswerForTheSameScopeReplacesTheOld() throws {
        let store = try Store()
        defer { store.writer.stop() }
        try store.store(store.answer("k", bytes: 10, executionID: "e1"), bytesMax: 1_000, at: 1)
        try store.store(store.answer("k", bytes: 30, executionID: "e2"), bytesMax: 1_000, at: 2)
        let scope = store.answer("k", bytes: 0).scope
        let found = try store.writer.perform { db in try IdempotentAnswers.lookup(scope, storedSinceMicros: 0, db) }
        #expect(found?.executionID == "e2")
        #expect(try store.totalBytes() == 30)
    }

    @Test func theTotalStaysWithinItsBoundByDroppingTheOldestFirst() throws {
        let store = try Store()
        defer { store.writer.stop() }
        for (index, key) in ["a", "b", "c", "d"].enumerated() {
            try store.store(store.answer(key, bytes: 40), bytesMax: 100, at: Int64(index))
            #expect(try store.totalBytes() <= 100)
        }
        #expect(try store.keys() == ["c", "d"])
        try store.store(store.answer("huge", bytes: 101), bytesMax: 100, at: 9)
        #expect(try store.keys() == ["c", "d"], "an answer larger than the bound by itself is not stored, and drops nothing")
        #expect(try store.totalBytes() == 80)
    }

    @Test func purgeDeletesOnlyExpiredAnswersInBoundedBatches() throws {
        let store = try Store()
        defer { store.writer.stop() }
        for index in 0..<5 { try store.store(store.answer("k\(index)", bytes: 5), bytesMax: 1_000, at: Int64(index)) }
        let first = try store.writer.perform { db in try IdempotentAnswers.purge(storedBeforeMicros: 3, rowsMax: 2, db) }
        let second = try store.writer.perform { db in try IdempotentAnswers.purge(storedBeforeMicros: 3, rowsMax: 2, db) }
        #expect(first == 2 && second == 1)
        #expect(try store.keys() == ["k3", "k4"])
        #expect(try store.totalBytes() == 10)
    }

    @Test func theSweepPurgesExpiredAnswersAndLookupsIgnoreThemBefore() throws {
        let store = try Store()
        defer { store.writer.stop() }
        let clock = Atomic<Int64>(100_000_000)
        let answers = IdempotentAnswerStore(databasePath: store.path, writer: store.writer,
                                            limits: .init(ttlSeconds: 10, sweepSeconds: 1, bytesMax: 1_000),
                                            now: { clock.load(ordering: .relaxed) })
        let answer = store.answer("k", bytes: 5)
        try store.store(answer, bytesMax: 1_000, at: 100_000_000)
        #expect(try answers.lookup(answer.scope) == answer)
        clock.store(110_000_001, ordering: .relaxed)
        #expect(try answers.lookup(answer.scope) == nil, "expired")
        #expect(try store.keys() == ["k"], "not swept yet")
        answers.startSweeping()
        var swept = false
        for _ in 0..<100 where !swept {
            usleep(20_000)
            swept = try store.keys().isEmpty
        }
        #expect(swept)
    }

    @Test func aCommitStoresItsAnswerAndRecordsItsDigestInTheSameTransaction() throws {
        let store = try Store()
        defer { store.writer.stop() }
        let loop = try EventLoop(index: 0)
        loop.start(name: "test-loop")
        defer {
            loop.execute { loop.stopRunning() }
            loop.waitUntilFinished()
        }
        let ledger = CallLedger(writer: store.writer, logger: nil)
        var stored: [IdempotentAnswer] = []
        for (id, keep) in [("e1", true), ("e2", false)] {
            let reservation = ExecutionLedger.Reservation(executionID: id, agentID: store.agent.id, agentName: "bot", endpoint: "chat/completions",
                                                          model: "m", amount: MicroUSD(100), promptTokensBound: 1, completionTokensBound: 1)
            try store.writer.perform { db in try ExecutionLedger.reserve(reservation, db, nowMicros: 1) }
            let answer = store.answer("key-" + id, bytes: 12, executionID: id)
            let done = DispatchSemaphoreBox<Bool>()
            ledger.settle(reservation, .committed(cost: MicroUSD(35), promptTokens: 1, completionTokens: 1, estimated: false, status: 200),
                          keeping: keep ? (answer, 1_000) : nil, on: loop) { ok in done.finish(ok) }
            #expect(done.wait())
            if keep { stored.append(answer) }
        }
        let rows = try store.writer.perform { db in
            try db.query("SELECT execution_id, payload FROM event_log WHERE type = 'commit' ORDER BY seq") { ($0.text(0), $0.text(1)) }
        }
        #expect(rows.count == 2)
        #expect(rows[0].1.contains(#""response_sha256":"\#(SHA256.hex(stored[0].body))""#), "\(rows[0].1)")
        #expect(!rows[1].1.contains("response_sha256"), "a call without a key stores nothing and records no digest")
        #expect(try store.keys() == ["key-e1"])
        let audit = try store.writer.perform { db in
            try db.query("SELECT id, idempotency_key, request_sha256 FROM executions ORDER BY id") { [$0.text(0), $0.text(1), $0.text(2)] }
        }
        #expect(audit == [["e1", "key-e1", "r-key-e1"], ["e2", "", ""]])
        let verified = try LedgerVerifier.verify(databaseAt: store.path)
        #expect(verified.ok, "\(verified)")
    }
}
