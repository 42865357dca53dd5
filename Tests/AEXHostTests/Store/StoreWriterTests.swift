import Dispatch
import Synchronization
import Testing
@testable import AEXHost

@Suite struct StoreWriterTests {
    @Test func migrationsCreateEveryTableAndAreIdempotent() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/aex.db"
        try StoreWriter(path: path).stop()
        let writer = try StoreWriter(path: path)
        defer { writer.stop() }
        let tables = try writer.perform { db in
            try db.query("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name") { $0.text(0) }
        }
        for table in ["agents", "event_log", "executions", "rate_windows", "reservations", "run_executions", "runs", "tool_plugins"] {
            #expect(tables.contains(table))
        }
        let version = try writer.perform { db in try db.query("PRAGMA user_version") { $0.int64(0) }.first }
        #expect(version == Int64(Migrations.latestVersion))
        let mode = try writer.perform { db in try db.query("PRAGMA journal_mode") { $0.text(0) }.first }
        #expect(mode == "wal")
    }

    /// A version-1 database keeps its executions, open reservations and ledger across version 2.
    @Test func version2KeepsVersion1Data() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/aex.db"
        try Version1Database.create(at: path, rows: """
                INSERT INTO agents (id, name, state, budget_micro, reserved_micro, rpm, token_sha256, token_prefix, created_at, updated_at)
                    VALUES (1, 'bot', 'active', 1000, 30, 10, 'x', 'aex_x', 1, 1);
                INSERT INTO executions (id, agent_id, endpoint, state, reserved_micro, created_at) VALUES
                    ('a', 1, 'chat/completions', 'DISPATCHED', 10, 1), ('b', 1, 'chat/completions', 'DISPATCHED', 20, 2),
                    ('c', 1, 'chat/completions', 'COMMITTED', 5, 3), ('d', 1, 'chat/completions', 'COMMITTED', 7, 4);
                INSERT INTO reservations (execution_id, agent_id, amount_micro, state, dispatched, created_at) VALUES
                    ('a', 1, 10, 'open', 1, 1), ('b', 1, 20, 'open', 0, 2), ('c', 1, 5, 'committed', 1, 3), ('d', 1, 7, 'recovered', 1, 4);
                INSERT INTO event_log (seq, ts_micros, type, payload, prev_hash, hash) VALUES (1, 5, 'config_reload', '{}', 'p', '\(String(repeating: "0f", count: 32))');
                """)
        let writer = try StoreWriter(path: path)
        defer { writer.stop() }
        let executions = try writer.perform { db in
            try db.query("SELECT id, state, recovered FROM executions ORDER BY id") { "\($0.text(0)) \($0.text(1)) \($0.int64(2))" }
        }
        #expect(executions == ["a DISPATCHED 0", "b RESERVED 0", "c COMMITTED 0", "d COMMITTED 1"])
        let open = try writer.perform { db in
            try db.query("SELECT execution_id, amount_micro, dispatched FROM reservations ORDER BY execution_id") {
                "\($0.text(0)) \($0.int64(1)) \($0.int64(2))"
            }
        }
        #expect(open == ["a 10 1", "b 20 0"])
        let events = try writer.perform { db in
            try db.query("SELECT seq, typeof(hash), hash FROM event_log") { "\($0.int64(0)) \($0.text(1)) \(Hex.encode($0.bytes(2)))" }
        }
        #expect(events == ["1 blob \(String(repeating: "0f", count: 32))"], "hex hashes become their bytes")
        #expect(throws: (any Error).self) { try writer.perform { db in try db.execute("DELETE FROM event_log") } }
    }

    /// Version 3 keeps every execution and the rule on `state`, and the statements of a governed
    /// call no longer build a temporary b-tree to check it.
    @Test func version3KeepsExecutionsAndChecksStateWithoutATemporaryTable() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/aex.db"
        try Version1Database.create(at: path, rows: """
                INSERT INTO agents (id, name, state, budget_micro, reserved_micro, rpm, token_sha256, token_prefix, created_at, updated_at)
                    VALUES (1, 'bot', 'active', 1000, 10, 10, 'x', 'aex_x', 1, 1);
                INSERT INTO executions (id, agent_id, endpoint, model, state, reserved_micro, cost_micro, created_at) VALUES
                    ('a', 1, 'chat/completions', 'm', 'DISPATCHED', 10, NULL, 1), ('c', 1, 'embeddings', 'e', 'COMMITTED', 5, 4, 3);
                INSERT INTO reservations (execution_id, agent_id, amount_micro, state, dispatched, created_at) VALUES
                    ('a', 1, 10, 'open', 1, 1), ('c', 1, 5, 'committed', 1, 3);
                """)
        let writer = try StoreWriter(path: path)
        defer { writer.stop() }
        let rows = try writer.perform { db in
            try db.query("SELECT id, endpoint, model, state, reserved_micro, coalesce(cost_micro, -1) FROM executions ORDER BY id") {
                "\($0.text(0)) \($0.text(1)) \($0.text(2)) \($0.text(3)) \($0.int64(4)) \($0.int64(5))"
            }
        }
        #expect(rows == ["a chat/completions m DISPATCHED 10 -1", "c embeddings e COMMITTED 5 4"])
        let open = try writer.perform { db in try db.query("SELECT execution_id FROM reservations") { $0.text(0) } }
        #expect(open == ["a"])
        #expect(throws: (any Error).self) {
            try writer.perform { db in try db.execute("UPDATE executions SET state = 'LOST' WHERE id = 'a'") }
        }
        let hotStatements = [
            "INSERT INTO executions (id, agent_id, endpoint, model, state, reserved_micro, created_at) VALUES ('z', 1, 'e', 'm', 'DISPATCHED', 1, 1)",
            "UPDATE executions SET state = 'COMMITTED', cost_micro = 1 WHERE id = 'a' AND state = 'DISPATCHED'",
        ]
        for sql in hotStatements {
            let opcodes = try writer.perform { db in try db.query("EXPLAIN " + sql) { $0.text(1) } }
            #expect(!opcodes.contains("OpenEphemeral"), "\(sql)")
        }
    }

    @Test func refusesADatabaseFromTheFuture() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/aex.db"
        let db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA user_version = 999")
        #expect(throws: (any Error).self) { try StoreWriter(path: path) }
    }

    @Test func concurrentSubmissionsAreGroupedAndAFailingOperationRollsBackAlone() throws {
        let dir = TemporaryDirectory()
        let writer = try StoreWriter(path: dir.path + "/aex.db", durability: .normal)
        try writer.perform { db in try db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)") }
        let operations = 2_000
        let done = DispatchGroup()
        let failures = Atomic<Int>(0)
        let successes = Atomic<Int>(0)
        let batchesBefore = writer.batchesCommitted
        DispatchQueue.concurrentPerform(iterations: operations) { i in
            done.enter()
            writer.submit({ db in
                try db.run("INSERT INTO t (k, v) VALUES (?, ?)", [.integer(Int64(i)), .text("row")])
                if i % 10 == 0 { try db.run("INSERT INTO t (k, v) VALUES (?, NULL)", [.integer(Int64(i + 1_000_000))]) }
                return i
            }) { result in
                switch result {
                case .success: successes.add(1, ordering: .relaxed)
                case .failure: failures.add(1, ordering: .relaxed)
                }
                done.leave()
            }
        }
        done.wait()
        #expect(failures.load(ordering: .relaxed) == operations / 10)
        #expect(successes.load(ordering: .relaxed) == operations - operations / 10)
        let rows = try writer.perform { db in try db.query("SELECT count(*) FROM t") { $0.int64(0) }.first }
        #expect(rows == Int64(operations - operations / 10), "a failed operation left none of its rows behind")
        #expect(writer.batchesCommitted - batchesBefore < operations, "operations were grouped into fewer transactions")
        writer.stop()
        #expect(throws: StoreError.self) { try writer.perform { _ in 1 } }
    }

    /// A batch holding a failing operation is rolled back and run again with savepoints: the other
    /// operations' ledger entries and counter changes land exactly once.
    @Test func ledgerOperationsBatchedWithAFailingOneLandExactlyOnce() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/aex.db"
        let writer = try StoreWriter(path: path, durability: .normal)
        let agent = try TestAgents.create(writer, name: "bot", budgetMicro: 1_000_000_000)
        let calls = 600
        let done = DispatchGroup()
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: calls) { i in
            let reservation = ExecutionLedger.Reservation(
                executionID: "exec_\(i)", agentID: agent.id, agentName: agent.name, endpoint: "chat/completions", model: "m",
                amount: MicroUSD(100), promptTokensBound: 10, completionTokensBound: 10)
            done.enter()
            writer.submit({ db in
                try ExecutionLedger.reserve(reservation, db, nowMicros: Int64(i))
                // Every 7th settles twice: the second settlement throws after the first one's writes.
                try ExecutionLedger.settle(reservation, .committed(cost: MicroUSD(60), promptTokens: 5, completionTokens: 5,
                                                                   estimated: false, status: 200), db, nowMicros: Int64(i))
                if i % 7 == 0 { try ExecutionLedger.settle(reservation, .released(reason: "again", status: 500), db, nowMicros: Int64(i)) }
            }) { result in
                if case .failure = result { failures.add(1, ordering: .relaxed) }
                done.leave()
            }
        }
        done.wait()
        writer.stop()
        let failed = (0..<calls).filter { $0 % 7 == 0 }.count
        #expect(failures.load(ordering: .relaxed) == failed)
        let db = try SQLiteDatabase(path: path, readOnly: true)
        let report = try LedgerVerifier.verify(db)
        #expect(report.ok, "\(report.problems) \(report.mismatchedAgents)")
        let commits = try db.query("SELECT count(*) FROM event_log WHERE type = 'commit'") { $0.int64(0) }.first
        #expect(commits == Int64(calls - failed), "each successful operation's events are written once")
        let spent = try db.query("SELECT spent_micro, reserved_micro FROM agents WHERE id = ?", [.integer(agent.id)]) { [$0.int64(0), $0.int64(1)] }.first
        #expect(spent == [Int64(calls - failed) * 60, 0])
    }

    @Test func readsDoNotWaitForTheWriter() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/aex.db"
        let writer = try StoreWriter(path: path)
        defer { writer.stop() }
        try writer.perform { db in try db.execute("CREATE TABLE t (v INTEGER)"); try db.run("INSERT INTO t VALUES (1)") }
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        writer.submit({ db in
            try db.run("INSERT INTO t VALUES (2)")
            holding.signal()
            release.wait()  // the writer's transaction stays open
        }) { _ in }
        holding.wait()
        let reader = try SQLiteDatabase(path: path, readOnly: true, busyTimeoutMilliseconds: 0)
        let count = try reader.query("SELECT count(*) FROM t") { $0.int64(0) }.first
        #expect(count == 1, "the reader sees the last commit without waiting")
        release.signal()
    }
}
