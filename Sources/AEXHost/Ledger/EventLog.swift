/// Appends hash-chained entries to `event_log`. Called only on the store writer's thread, inside
/// its transaction, so entries are appended in commit order and a rolled-back operation leaves no
/// entry and no gap.
///
/// Chain: `hash = sha256(canonical_json({"agent_id", "agent_name", "execution_id", "payload",
/// "prev_hash", "seq", "ts_micros", "type"}))` where `payload` is the entry's payload as a JSON value
/// and absent ids are `null`; `prev_hash` is the previous entry's hash as 64 lower-case hex digits,
/// 64 zeros for the first entry. `event_log.hash` stores the 32 bytes. See `JSONValue` for the
/// canonical form.
public enum EventLog {
    public static let genesisHash = String(repeating: "0", count: 64)

    public struct Head: Sendable, Equatable {
        public var seq: Int64
        public var hash: String
    }

    /// A row's `hash` as 64 hex digits: stored as 32 bytes (schema 2), or as hex text by a database
    /// not yet upgraded (read-only commands may meet one).
    static func storedHash(_ row: SQLiteStatement, _ column: Int32) -> String {
        row.isText(column) ? row.text(column) : Hex.encode(row.bytes(column))
    }

    public static func head(_ db: SQLiteDatabase) throws -> Head {
        if let cached = db.ledgerState.eventLogHead { return cached }
        let head = try db.query("SELECT seq, hash FROM event_log ORDER BY seq DESC LIMIT 1") {
            Head(seq: $0.int64(0), hash: storedHash($0, 1))
        }.first ?? Head(seq: 0, hash: genesisHash)
        db.ledgerState.eventLogHead = head
        return head
    }

    @discardableResult
    public static func append(_ event: LedgerEvent, to db: SQLiteDatabase, nowMicros: Int64) throws -> Head {
        let previous = try head(db)
        assert(previous.seq >= 0 && previous.hash.utf8.count == 64, "a malformed chain head")
        let seq = previous.seq + 1
        let digest = entryDigest(
            seq: seq, tsMicros: nowMicros, type: event.type.rawValue, agentID: event.agentID,
            agentName: event.agentName, executionID: event.executionID, payloadText: event.payloadText,
            previousHash: previous.hash)
        let insert = try db.statement(
            "INSERT INTO event_log (seq, ts_micros, type, agent_id, agent_name, execution_id, payload, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        try insert.bind(1, seq)
        try insert.bind(2, nowMicros)
        try insert.bind(3, event.type.rawValue)
        try insert.bind(4, event.agentID)
        try insert.bind(5, event.agentName)
        try insert.bind(6, event.executionID)
        try insert.bind(7, utf8: event.payloadText)
        try insert.bind(8, blob: digest)
        try insert.runToCompletion()
        let head = Head(seq: seq, hash: Hex.encode(digest))
        db.ledgerState.eventLogHead = head
        return head
    }

    public static func entryHash(
        seq: Int64, tsMicros: Int64, type: String, agentID: Int64?, agentName: String?, executionID: String?,
        payload: JSONValue, previousHash: String
    ) -> String {
        var payloadBytes = [UInt8]()
        payload.write(into: &payloadBytes)
        return entryHash(seq: seq, tsMicros: tsMicros, type: type, agentID: agentID, agentName: agentName,
                         executionID: executionID, payloadText: payloadBytes, previousHash: previousHash)
    }

    /// The canonical record written key by key in sorted order, with the payload's canonical text
    /// spliced in (byte-identical to `JSONValue.object([...]).canonicalText`, without building it).
    static func entryHash(
        seq: Int64, tsMicros: Int64, type: String, agentID: Int64?, agentName: String?, executionID: String?,
        payloadText: [UInt8], previousHash: String
    ) -> String {
        Hex.encode(entryDigest(seq: seq, tsMicros: tsMicros, type: type, agentID: agentID, agentName: agentName,
                               executionID: executionID, payloadText: payloadText, previousHash: previousHash))
    }

    /// The hash as its 32 bytes (how `event_log.hash` stores it). The record's keys are fixed, so
    /// they are written as prepared bytes.
    static func entryDigest(
        seq: Int64, tsMicros: Int64, type: String, agentID: Int64?, agentName: String?, executionID: String?,
        payloadText: [UInt8], previousHash: String
    ) -> [UInt8] {
        var record = [UInt8]()
        record.reserveCapacity(payloadText.count + 256)
        record.append(contentsOf: RecordKeys.agentID)
        JSONValue.optional(agentID).write(into: &record)
        record.append(contentsOf: RecordKeys.agentName)
        JSONValue.optional(agentName).write(into: &record)
        record.append(contentsOf: RecordKeys.executionID)
        JSONValue.optional(executionID).write(into: &record)
        record.append(contentsOf: RecordKeys.payload)
        record.append(contentsOf: payloadText)
        record.append(contentsOf: RecordKeys.previousHash)
        JSONValue.writeString(previousHash, into: &record)
        record.append(contentsOf: RecordKeys.seq)
        CanonicalJSONObject.appendDecimal(seq, to: &record)
        record.append(contentsOf: RecordKeys.timestamp)
        CanonicalJSONObject.appendDecimal(tsMicros, to: &record)
        record.append(contentsOf: RecordKeys.type)
        JSONValue.writeString(type, into: &record)
        record.append(UInt8(ascii: "}"))
        return SHA256.digest(record)
    }

    /// The canonical record's keys in their sorted order, with the punctuation around them.
    private enum RecordKeys {
        static let agentID = Array(#"{"agent_id":"#.utf8)
        static let agentName = Array(#","agent_name":"#.utf8)
        static let executionID = Array(#","execution_id":"#.utf8)
        static let payload = Array(#","payload":"#.utf8)
        static let previousHash = Array(#","prev_hash":"#.utf8)
        static let seq = Array(#","seq":"#.utf8)
        static let timestamp = Array(#","ts_micros":"#.utf8)
        static let type = Array(#","type":"#.utf8)
    }
}
