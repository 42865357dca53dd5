/// Versioned schema migrations, applied in order inside one transaction each; the applied version
/// is `PRAGMA user_version`. Migrations are append-only: never edit one that has shipped.
public enum Migrations {
    /// One migration: SQL, optionally with a step in Swift (for what SQL alone cannot do) between
    /// its two parts, all in one transaction.
    public struct Migration: Sendable {
        let version: Int
        let sql: String
        var code: (@Sendable (SQLiteDatabase) throws -> Void)? = nil
        var sqlAfterCode = ""
    }

    public static let all: [Migration] = [
        Migration(version: 1, sql: version1),
        Migration(version: 2, sql: version2, code: convertEventHashesToBytes, sqlAfterCode: version2AfterHashes),
        Migration(version: 3, sql: version3),
        Migration(version: 4, sql: version4),
        Migration(version: 5, sql: version5),
        Migration(version: 6, sql: version6),
    ]

    public static var latestVersion: Int { all.last?.version ?? 0 }

    /// Brings the database to `latestVersion`. Refuses a database newer than this build.
    public static func apply(to db: SQLiteDatabase) throws {
        let current = try db.query("PRAGMA user_version") { $0.int64(0) }.first ?? 0
        guard current <= Int64(latestVersion) else {
            throw StoreError.schemaTooNew(found: Int(current), supported: latestVersion)
        }
        for migration in all where Int64(migration.version) > current {
            try db.execute("BEGIN IMMEDIATE")
            do {
                try db.execute(migration.sql)
                if let code = migration.code {
                    try code(db)
                    try db.execute(migration.sqlAfterCode)
                }
                try db.execute("PRAGMA user_version = \(migration.version)")
                try db.execute("COMMIT")
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Times are integer microseconds since the Unix epoch (UTC); money is integer micro-USD.
    static let version1 = """
    CREATE TABLE agents (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'paused', 'deleted')),
        budget_micro INTEGER NOT NULL CHECK (budget_micro >= 0),
        spent_micro INTEGER NOT NULL DEFAULT 0 CHECK (spent_micro >= 0),
        reserved_micro INTEGER NOT NULL DEFAULT 0 CHECK (reserved_micro >= 0),
        rpm INTEGER NOT NULL CHECK (rpm >= 0),
        tpm INTEGER CHECK (tpm >= 0),
        models TEXT,
        tools TEXT,
        streaming INTEGER NOT NULL DEFAULT 1,
        vision INTEGER NOT NULL DEFAULT 0,
        max_tokens INTEGER CHECK (max_tokens > 0),
        passthrough INTEGER NOT NULL DEFAULT 0,
        read_only INTEGER NOT NULL DEFAULT 0,
        token_sha256 TEXT NOT NULL,
        token_prefix TEXT NOT NULL,
        token_expires_at INTEGER,
        token_ttl_seconds INTEGER CHECK (token_ttl_seconds > 0),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER
    );
    CREATE UNIQUE INDEX agents_live_name ON agents (name) WHERE state != 'deleted';
    CREATE UNIQUE INDEX agents_token_sha256 ON agents (token_sha256);

    CREATE TABLE executions (
        id TEXT PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES agents (id),
        endpoint TEXT NOT NULL,
        model TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('RESERVED', 'DISPATCHED', 'COMMITTED', 'RELEASED', 'DENIED', 'FAILED')),
        reserved_micro INTEGER NOT NULL DEFAULT 0,
        cost_micro INTEGER,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        estimated INTEGER NOT NULL DEFAULT 0,
        status INTEGER,
        idempotency_key TEXT,
        request_sha256 TEXT,
        created_at INTEGER NOT NULL,
        settled_at INTEGER
    );
    CREATE INDEX executions_agent ON executions (agent_id, created_at);
    CREATE UNIQUE INDEX executions_idempotency ON executions (agent_id, endpoint, idempotency_key)
        WHERE idempotency_key IS NOT NULL;

    CREATE TABLE reservations (
        execution_id TEXT PRIMARY KEY REFERENCES executions (id),
        agent_id INTEGER NOT NULL REFERENCES agents (id),
        amount_micro INTEGER NOT NULL CHECK (amount_micro >= 0),
        state TEXT NOT NULL CHECK (state IN ('open', 'committed', 'released', 'recovered')),
        dispatched INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        settled_at INTEGER
    );
    CREATE INDEX reservations_open ON reservations (agent_id) WHERE state = 'open';

    CREATE TABLE event_log (
        seq INTEGER PRIMARY KEY,
        ts_micros INTEGER NOT NULL,
        type TEXT NOT NULL,
        agent_id INTEGER,
        agent_name TEXT,
        execution_id TEXT,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX event_log_agent ON event_log (agent_id, seq);
    CREATE TRIGGER event_log_no_update BEFORE UPDATE ON event_log
        BEGIN SELECT RAISE(ABORT, 'event_log is append-only'); END;
    CREATE TRIGGER event_log_no_delete BEFORE DELETE ON event_log
        BEGIN SELECT RAISE(ABORT, 'event_log is append-only'); END;

    CREATE TABLE tool_plugins (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('provider', 'tool')),
        abi TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        manifest TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 0,
        installed_at INTEGER NOT NULL
    );

    CREATE TABLE rate_windows (
        agent_id INTEGER NOT NULL REFERENCES agents (id),
        window_start INTEGER NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        tokens INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (agent_id, window_start)
    ) WITHOUT ROWID;

    CREATE TABLE pids (
        run_id TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        agent_id INTEGER NOT NULL REFERENCES agents (id),
        command TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        exit_code INTEGER
    );
    """

    /// Version 2, for the cost per governed call:
    /// - `executions` is clustered by its id (no rowid table beside a primary-key index) and gains
    ///   `recovered`; its open rows (`RESERVED`, `DISPATCHED`) are the open reservations, indexed.
    /// - `reservations` becomes a view of those open rows: one row per call instead of two.
    /// - `event_log` drops `prev_hash` (it is the previous row's `hash`, and the chain is checked
    ///   against that row anyway), keeps `hash` as its 32 bytes instead of 64 hex digits, and loses
    ///   its per-agent index (two index entries per call; per-agent listings are rare and scan).
    static let version2 = """
    CREATE TABLE executions_v2 (
        id TEXT PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES agents (id),
        endpoint TEXT NOT NULL,
        model TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('RESERVED', 'DISPATCHED', 'COMMITTED', 'RELEASED', 'DENIED', 'FAILED')),
        reserved_micro INTEGER NOT NULL DEFAULT 0 CHECK (reserved_micro >= 0),
        cost_micro INTEGER,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        estimated INTEGER NOT NULL DEFAULT 0,
        recovered INTEGER NOT NULL DEFAULT 0,
        status INTEGER,
        idempotency_key TEXT,
        request_sha256 TEXT,
        created_at INTEGER NOT NULL,
        settled_at INTEGER
    ) WITHOUT ROWID;
    INSERT INTO executions_v2 (id, agent_id, endpoint, model, state, reserved_micro, cost_micro, prompt_tokens,
        completion_tokens, estimated, recovered, status, idempotency_key, request_sha256, created_at, settled_at)
    SELECT e.id, e.agent_id, e.endpoint, e.model,
        CASE WHEN r.state = 'open' AND r.dispatched = 0 THEN 'RESERVED' ELSE e.state END,
        e.reserved_micro, e.cost_micro, e.prompt_tokens, e.completion_tokens, e.estimated,
        coalesce(r.state = 'recovered', 0), e.status, e.idempotency_key, e.request_sha256, e.created_at, e.settled_at
    FROM executions e LEFT JOIN reservations r ON r.execution_id = e.id;
    DROP TABLE reservations;
    DROP TABLE executions;
    ALTER TABLE executions_v2 RENAME TO executions;
    CREATE INDEX executions_open ON executions (agent_id) WHERE state IN ('RESERVED', 'DISPATCHED');
    CREATE UNIQUE INDEX executions_idempotency ON executions (agent_id, endpoint, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE VIEW reservations (execution_id, agent_id, amount_micro, dispatched, created_at) AS
        SELECT id, agent_id, reserved_micro, state = 'DISPATCHED', created_at
        FROM executions WHERE state IN ('RESERVED', 'DISPATCHED');

    CREATE TABLE event_log_v2 (
        seq INTEGER PRIMARY KEY,
        ts_micros INTEGER NOT NULL,
        type TEXT NOT NULL,
        agent_id INTEGER,
        agent_name TEXT,
        execution_id TEXT,
        payload TEXT NOT NULL,
        hash BLOB NOT NULL
    );
    INSERT INTO event_log_v2 SELECT seq, ts_micros, type, agent_id, agent_name, execution_id, payload, hash FROM event_log;
    """

    /// Version 2's hex hashes become bytes (SQLite 3.40 has no `unhex`).
    static func convertEventHashesToBytes(_ db: SQLiteDatabase) throws {
        let rows = try db.query("SELECT seq, hash FROM event_log_v2 WHERE typeof(hash) = 'text'") { ($0.int64(0), $0.text(1)) }
        let update = try db.prepare("UPDATE event_log_v2 SET hash = ? WHERE seq = ?")
        for (seq, hex) in rows {
            guard let bytes = Hex.decode(hex), bytes.count == 32 else {
                throw StoreError.migrationFailed("event_log entry \(seq) has a malformed hash")
            }
            try update.bind(1, blob: bytes)
            try update.bind(2, seq)
            try update.runToCompletion()
        }
    }

    static let version2AfterHashes = """
    DROP TRIGGER event_log_no_update;
    DROP TRIGGER event_log_no_delete;
    DROP TABLE event_log;
    ALTER TABLE event_log_v2 RENAME TO event_log;
    CREATE TRIGGER event_log_no_update BEFORE UPDATE ON event_log
        BEGIN SELECT RAISE(ABORT, 'event_log is append-only'); END;
    CREATE TRIGGER event_log_no_delete BEFORE DELETE ON event_log
        BEGIN SELECT RAISE(ABORT, 'event_log is append-only'); END;
    """

    /// Version 3: `executions.state` is checked with a chain of comparisons instead of `IN (…)`.
    /// SQLite evaluates a CHECK with an `IN` list of six constants by building a temporary b-tree
    /// (`OpenEphemeral`) on every insert and every update of `state` — two per governed call; the
    /// writer ran about a third fewer instructions per call without them (`bench/instructions.sh`).
    /// Same rows, same rule, no temporary b-tree.
    static let version3 = """
    DROP VIEW reservations;
    CREATE TABLE executions_v3 (
        id TEXT PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES agents (id),
        endpoint TEXT NOT NULL,
        model TEXT,
        state TEXT NOT NULL
            CHECK (state = 'RESERVED' OR state = 'DISPATCHED' OR state = 'COMMITTED' OR state = 'RELEASED'
                   OR state = 'DENIED' OR state = 'FAILED'),
        reserved_micro INTEGER NOT NULL DEFAULT 0 CHECK (reserved_micro >= 0),
        cost_micro INTEGER,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        estimated INTEGER NOT NULL DEFAULT 0,
        recovered INTEGER NOT NULL DEFAULT 0,
        status INTEGER,
        idempotency_key TEXT,
        request_sha256 TEXT,
        created_at INTEGER NOT NULL,
        settled_at INTEGER
    ) WITHOUT ROWID;
    INSERT INTO executions_v3 SELECT * FROM executions;
    DROP TABLE executions;
    ALTER TABLE executions_v3 RENAME TO executions;
    CREATE INDEX executions_open ON executions (agent_id) WHERE state IN ('RESERVED', 'DISPATCHED');
    CREATE UNIQUE INDEX executions_idempotency ON executions (agent_id, endpoint, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE VIEW reservations (execution_id, agent_id, amount_micro, dispatched, created_at) AS
        SELECT id, agent_id, reserved_micro, state = 'DISPATCHED', created_at
        FROM executions WHERE state IN ('RESERVED', 'DISPATCHED');
    """

    /// Version 4: idempotent answers (SPEC §8), outside the hash chain. One row per (agent,
    /// endpoint, key) holds the answer a successful call gave; `idempotent_answer_bytes` keeps the
    /// total size of their bodies (maintained by the triggers, so a rolled-back change leaves it
    /// right), which the writer holds under the operator's bound. `executions.idempotency_key` is
    /// kept for audit only: a key may be used again once its answer expired, so it is no longer
    /// unique there.
    static let version4 = """
    DROP INDEX executions_idempotency;
    CREATE TABLE idempotent_answers (
        id INTEGER PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES agents (id),
        endpoint TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        request_sha256 TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        status INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        cost_micro INTEGER NOT NULL CHECK (cost_micro >= 0),
        body BLOB NOT NULL,
        stored_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX idempotent_answers_scope ON idempotent_answers (agent_id, endpoint, idempotency_key);
    CREATE INDEX idempotent_answers_stored_at ON idempotent_answers (stored_at);
    CREATE TABLE idempotent_answer_bytes (id INTEGER PRIMARY KEY CHECK (id = 1), total INTEGER NOT NULL CHECK (total >= 0));
    INSERT INTO idempotent_answer_bytes (id, total) VALUES (1, 0);
    CREATE TRIGGER idempotent_answers_added AFTER INSERT ON idempotent_answers
        BEGIN UPDATE idempotent_answer_bytes SET total = total + length(NEW.body) WHERE id = 1; END;
    CREATE TRIGGER idempotent_answers_removed AFTER DELETE ON idempotent_answers
        BEGIN UPDATE idempotent_answer_bytes SET total = total - length(OLD.body) WHERE id = 1; END;
    """

    /// Version 5: `tool_plugins.bundled` — the plugins built with AEX (found beside the binary and
    /// registered by `aex init`) apart from those installed with `aex plugin install`.
    static let version5 = """
    ALTER TABLE tool_plugins ADD COLUMN bundled INTEGER NOT NULL DEFAULT 0;
    """

    /// Version 6: `aex run` (SPEC §12). `runs` records each supervised run: its credential (token
    /// digest and prefix), its `aex run` process and child process group (pid with the start time
    /// read from /proc, so a reused pid is not mistaken for it), its cap and lifetime, its state
    /// (`running` → `stopping` once terminated → `ended`). `run_executions` names the calls made
    /// with a run's token, so a run's spending is the sum of its committed executions; a call of an
    /// agent's own token writes nothing there (a column of `executions` with its index would cost
    /// every call). `pids`, planned in version 1 and never written, is dropped.
    static let version6 = """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES agents (id),
        token_sha256 TEXT NOT NULL,
        token_prefix TEXT NOT NULL,
        supervisor_pid INTEGER NOT NULL,
        supervisor_start_ticks INTEGER NOT NULL,
        pid INTEGER,
        pid_start_ticks INTEGER,
        command TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ttl_seconds INTEGER,
        expires_at INTEGER,
        budget_micro INTEGER CHECK (budget_micro IS NULL OR budget_micro >= 0),
        kill_on_exhaust INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL CHECK (state IN ('running', 'stopping', 'ended')),
        stop_reason TEXT,
        ended_at INTEGER,
        exit_code INTEGER,
        signal INTEGER
    );
    CREATE INDEX runs_active ON runs (state) WHERE state != 'ended';
    CREATE TABLE run_executions (
        run_id TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        PRIMARY KEY (run_id, execution_id)
    ) WITHOUT ROWID;
    DROP TABLE pids;
    """
}
