/// Which stored answer a request with an `Idempotency-Key` refers to: the key is scoped to the
/// agent and the endpoint (SPEC §8). For `/v1/tools/execute` the key is the `execution_id`.
public struct IdempotencyScope: Hashable, Sendable {
    public var agentID: Int64
    public var endpoint: String
    public var key: String

    public init(agentID: Int64, endpoint: String, key: String) {
        self.agentID = agentID
        self.endpoint = endpoint
        self.key = key
    }
}

/// The answer a successful call gave, as its client received it, and what it was an answer to.
public struct IdempotentAnswer: Sendable, Equatable {
    public var scope: IdempotencyScope
    /// SHA-256 (hex) of the request body's canonical JSON text.
    public var requestSHA256: String
    public var executionID: String
    public var status: Int
    public var contentType: String
    /// What the call was charged.
    public var cost: MicroUSD
    /// The body bytes; for a stream, the SSE bytes the client received.
    public var body: [UInt8]

    public init(scope: IdempotencyScope, requestSHA256: String, executionID: String, status: Int, contentType: String,
                cost: MicroUSD, body: [UInt8]) {
        self.scope = scope
        self.requestSHA256 = requestSHA256
        self.executionID = executionID
        self.status = status
        self.contentType = contentType
        self.cost = cost
        self.body = body
    }
}

/// The `idempotent_answers` table: stored answers, outside the hash chain (the commit event holds
/// the SHA-256 of the body). Written by the store writer inside the settlement's transaction, so an
/// answer is stored exactly when its commit is; read by `IdempotentAnswerStore`.
///
/// Invariant: the total of the stored bodies (`idempotent_answer_bytes`) never exceeds the bound
/// the writer is given; making room drops the oldest answers first.
enum IdempotentAnswers {
    /// Stores `answer`, replacing an earlier one of the same scope (an expired one, not yet swept)
    /// and dropping the oldest answers until the total fits `bytesMax`. An answer larger than
    /// `bytesMax` by itself is not stored. Also records the key on the execution, for audit.
    static func store(_ answer: IdempotentAnswer, bytesMax: Int, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        guard answer.body.count <= bytesMax else { return }
        let scope = answer.scope
        try db.run("DELETE FROM idempotent_answers WHERE agent_id = ? AND endpoint = ? AND idempotency_key = ?",
                   [.integer(scope.agentID), .text(scope.endpoint), .text(scope.key)])
        while try totalBytes(db) + Int64(answer.body.count) > Int64(bytesMax) {
            try db.run("DELETE FROM idempotent_answers WHERE id = (SELECT min(id) FROM idempotent_answers)")
            guard db.changes == 1 else { break }
        }
        let insert = try db.statement(
            """
            INSERT INTO idempotent_answers (agent_id, endpoint, idempotency_key, request_sha256, execution_id, status,
                content_type, cost_micro, body, stored_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        try insert.bind(1, scope.agentID)
        try insert.bind(2, scope.endpoint)
        try insert.bind(3, scope.key)
        try insert.bind(4, answer.requestSHA256)
        try insert.bind(5, answer.executionID)
        try insert.bind(6, Int64(answer.status))
        try insert.bind(7, answer.contentType)
        try insert.bind(8, answer.cost.value)
        try insert.bind(9, blob: answer.body)
        try insert.bind(10, nowMicros)
        try insert.runToCompletion()
        try db.run("UPDATE executions SET idempotency_key = ?, request_sha256 = ? WHERE id = ?",
                   [.text(scope.key), .text(answer.requestSHA256), .text(answer.executionID)])
    }

    /// The answer stored for `scope` at or after `storedSinceMicros`, if any.
    static func lookup(_ scope: IdempotencyScope, storedSinceMicros: Int64, _ db: SQLiteDatabase) throws -> IdempotentAnswer? {
        try db.query(
            """
            SELECT request_sha256, execution_id, status, content_type, cost_micro, body FROM idempotent_answers
            WHERE agent_id = ? AND endpoint = ? AND idempotency_key = ? AND stored_at >= ?
            """,
            [.integer(scope.agentID), .text(scope.endpoint), .text(scope.key), .integer(storedSinceMicros)]
        ) { row in
            IdempotentAnswer(scope: scope, requestSHA256: row.text(0), executionID: row.text(1), status: Int(row.int64(2)),
                             contentType: row.text(3), cost: MicroUSD(row.int64(4)), body: row.bytes(5))
        }.first
    }

    /// Deletes at most `rowsMax` answers stored before `storedBeforeMicros`; returns how many.
    static func purge(storedBeforeMicros: Int64, rowsMax: Int, _ db: SQLiteDatabase) throws -> Int {
        try db.run(
            """
            DELETE FROM idempotent_answers WHERE id IN
                (SELECT id FROM idempotent_answers WHERE stored_at < ? ORDER BY stored_at LIMIT ?)
            """,
            [.integer(storedBeforeMicros), .integer(Int64(rowsMax))])
        return db.changes
    }

    /// The total size of the stored bodies.
    static func totalBytes(_ db: SQLiteDatabase) throws -> Int64 {
        try db.query("SELECT total FROM idempotent_answer_bytes WHERE id = 1") { $0.int64(0) }.first ?? 0
    }
}
