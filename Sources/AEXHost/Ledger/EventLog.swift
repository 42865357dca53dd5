/// Appends hash-chained entries to `event_log`. Called only on the store writer's thread, inside
/// its transaction, so entries are appended in commit order and a rolled-back operation leaves no
/// entry and no gap.
///
/// Chain: `hash = sha256_hex(canonical_json({"agent_id", "agent_name", "execution_id", "payload",
/// "prev_hash", "seq", "ts_micros", "type"}))` where `payload` is the entry's payload as a JSON value
/// and absent ids are `null`; the first entry's `prev_hash` is 64 zeros. See `JSONValue` for the
/// canonical form.
public enum EventLog {
    public static let genesisHash = String(repeating: "0", count: 64)

    public struct Head: Sendable, Equatable {
        public var seq: Int64
        public var hash: String
    }

    public static func head(_ db: SQLiteDatabase) throws -> Head {
        try db.query("SELECT seq, hash FROM event_log ORDER BY seq DESC LIMIT 1") {
            Head(seq: $0.int64(0), hash: $0.text(1))
        }.first ?? Head(seq: 0, hash: genesisHash)
    }

    @discardableResult
    public static func append(_ event: LedgerEvent, to db: SQLiteDatabase, nowMicros: Int64) throws -> Head {
        let previous = try head(db)
        let seq = previous.seq + 1
        let payloadText = event.payload.canonicalText
        let hash = entryHash(
            seq: seq, tsMicros: nowMicros, type: event.type.rawValue, agentID: event.agentID,
            agentName: event.agentName, executionID: event.executionID, payload: event.payload,
            previousHash: previous.hash)
        try db.run(
            """
            INSERT INTO event_log (seq, ts_micros, type, agent_id, agent_name, execution_id, payload, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.integer(seq), .integer(nowMicros), .text(event.type.rawValue), .optional(event.agentID),
             .optional(event.agentName), .optional(event.executionID), .text(payloadText),
             .text(previous.hash), .text(hash)])
        return Head(seq: seq, hash: hash)
    }

    public static func entryHash(
        seq: Int64, tsMicros: Int64, type: String, agentID: Int64?, agentName: String?, executionID: String?,
        payload: JSONValue, previousHash: String
    ) -> String {
        let record = JSONValue.object([
            "agent_id": .optional(agentID),
            "agent_name": .optional(agentName),
            "execution_id": .optional(executionID),
            "payload": payload,
            "prev_hash": .string(previousHash),
            "seq": .int(seq),
            "ts_micros": .int(tsMicros),
            "type": .string(type),
        ])
        return SHA256.hex(record.canonicalText)
    }
}
