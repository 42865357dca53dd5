import Foundation

/// Rows of the `agents` table ↔ `Agent`. Runs on whichever thread owns the connection.
enum AgentTable {
    static let columns = """
        id, name, state, budget_micro, spent_micro, reserved_micro, rpm, tpm, models, tools, streaming, vision,
        max_tokens, passthrough, read_only, token_sha256, token_prefix, token_expires_at, created_at, token_ttl_seconds
        """

    static func live(_ db: SQLiteDatabase) throws -> [Agent] {
        try db.flushAgentCounterChanges()
        return try db.query("SELECT \(columns) FROM agents WHERE state != 'deleted' ORDER BY name", [], agent)
    }

    static func live(named name: String, _ db: SQLiteDatabase) throws -> Agent? {
        try db.flushAgentCounterChanges()
        return try db.query("SELECT \(columns) FROM agents WHERE name = ? AND state != 'deleted'", [.text(name)], agent).first
    }

    static func insert(_ agent: Agent, _ db: SQLiteDatabase, nowMicros: Int64) throws -> Int64 {
        try db.run(
            """
            INSERT INTO agents (name, state, budget_micro, spent_micro, reserved_micro, rpm, tpm, models, tools,
                streaming, vision, max_tokens, passthrough, read_only, token_sha256, token_prefix, token_expires_at,
                token_ttl_seconds, created_at, updated_at)
            VALUES (?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(agent.name), .text(agent.state.rawValue), .integer(agent.budget.value), .integer(agent.rpm),
             .optional(agent.tpm), .optional(encodeList(agent.policy.models)), .optional(encodeList(agent.policy.tools)),
             .bool(agent.policy.streaming), .bool(agent.policy.vision), .optional(agent.policy.maxTokens),
             .bool(agent.policy.passthrough), .bool(agent.policy.readOnly), .text(agent.tokenSHA256),
             .text(agent.tokenPrefix), .optional(agent.tokenExpiresAtMicros), .optional(agent.tokenTTLSeconds),
             .integer(agent.createdAtMicros),
             .integer(nowMicros)])
        return db.lastInsertRowID
    }

    /// Writes every settable column of `agent` (not spent/reserved: only the ledger moves those).
    static func update(_ agent: Agent, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        try db.run(
            """
            UPDATE agents SET state = ?, budget_micro = ?, rpm = ?, tpm = ?, models = ?, tools = ?, streaming = ?,
                vision = ?, max_tokens = ?, passthrough = ?, read_only = ?, token_sha256 = ?, token_prefix = ?,
                token_expires_at = ?, token_ttl_seconds = ?, updated_at = ?, deleted_at = CASE WHEN ? = 'deleted' THEN ? ELSE deleted_at END
            WHERE id = ?
            """,
            [.text(agent.state.rawValue), .integer(agent.budget.value), .integer(agent.rpm), .optional(agent.tpm),
             .optional(encodeList(agent.policy.models)), .optional(encodeList(agent.policy.tools)),
             .bool(agent.policy.streaming), .bool(agent.policy.vision), .optional(agent.policy.maxTokens),
             .bool(agent.policy.passthrough), .bool(agent.policy.readOnly), .text(agent.tokenSHA256),
             .text(agent.tokenPrefix), .optional(agent.tokenExpiresAtMicros), .optional(agent.tokenTTLSeconds), .integer(nowMicros),
             .text(agent.state.rawValue), .integer(nowMicros), .integer(agent.id)])
    }

    static func agent(_ row: SQLiteStatement) throws -> Agent {
        guard let state = AgentState(rawValue: row.text(2)) else {
            throw SQLiteError(code: 0, message: "agents row \(row.int64(0)) has an unknown state")
        }
        return Agent(
            id: row.int64(0), name: row.text(1), state: state, budget: MicroUSD(row.int64(3)),
            spent: MicroUSD(row.int64(4)), reserved: MicroUSD(row.int64(5)), rpm: row.int64(6),
            tpm: row.optionalInt64(7),
            policy: AgentPolicy(
                models: decodeList(row.optionalText(8)), tools: decodeList(row.optionalText(9)),
                streaming: row.bool(10), vision: row.bool(11), maxTokens: row.optionalInt64(12),
                passthrough: row.bool(13), readOnly: row.bool(14)),
            tokenSHA256: row.text(15), tokenPrefix: row.text(16), tokenExpiresAtMicros: row.optionalInt64(17),
            tokenTTLSeconds: row.optionalInt64(19), createdAtMicros: row.int64(18))
    }

    static func encodeList(_ list: [String]?) -> String? {
        list.map { JSONValue.array($0.map { .string($0) }).canonicalText }
    }

    static func decodeList(_ text: String?) -> [String]? {
        guard let text, let data = text.data(using: .utf8) else { return nil }
        return (try? JSONDecoder().decode([String].self, from: data)) ?? []
    }
}
