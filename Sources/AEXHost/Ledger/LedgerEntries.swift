/// Reading the event log back, for people (`aex ledger head`, `aex ledger show`): read-only
/// queries on a connection of the caller's.
public enum LedgerEntries {
    public struct Entry: Sendable {
        public var seq: Int64
        public var timestampMicros: Int64
        public var type: String
        public var agentID: Int64?
        public var agentName: String?
        public var executionID: String?
        public var payload: String
        public var hash: String
    }

    /// The last entry's sequence number and hash (the genesis head when the log is empty).
    public static func head(_ db: SQLiteDatabase) throws -> EventLog.Head {
        try db.query("SELECT seq, hash FROM event_log ORDER BY seq DESC LIMIT 1") {
            EventLog.Head(seq: $0.int64(0), hash: EventLog.storedHash($0, 1))
        }.first ?? EventLog.Head(seq: 0, hash: EventLog.genesisHash)
    }

    /// The newest `limit` entries (oldest first), of one agent name and/or execution when given,
    /// and only those after `afterSeq` when given.
    public static func latest(_ db: SQLiteDatabase, agentName: String?, executionID: String?, afterSeq: Int64? = nil,
                              limit: Int64) throws -> [Entry] {
        var conditions: [String] = []
        var values: [SQLiteValue] = []
        if let afterSeq {
            conditions.append("seq > ?")
            values.append(.integer(afterSeq))
        }
        if let agentName {
            conditions.append("agent_name = ?")
            values.append(.text(agentName))
        }
        if let executionID {
            conditions.append("execution_id = ?")
            values.append(.text(executionID))
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        values.append(.integer(limit))
        return try db.query(
            """
            SELECT seq, ts_micros, type, agent_id, agent_name, execution_id, payload, hash FROM event_log \(filter)
            ORDER BY seq DESC LIMIT ?
            """, values) { row in
            Entry(seq: row.int64(0), timestampMicros: row.int64(1), type: row.text(2), agentID: row.optionalInt64(3),
                  agentName: row.optionalText(4), executionID: row.optionalText(5), payload: row.text(6), hash: EventLog.storedHash(row, 7))
        }.reversed()
    }

    /// The entries after `afterSeq`, oldest first, at most `limit` (the live feed's next page).
    public static func after(_ db: SQLiteDatabase, seq afterSeq: Int64, limit: Int64) throws -> [Entry] {
        try db.query(
            """
            SELECT seq, ts_micros, type, agent_id, agent_name, execution_id, payload, hash FROM event_log
            WHERE seq > ? ORDER BY seq LIMIT ?
            """, [.integer(afterSeq), .integer(limit)]) { row in
            Entry(seq: row.int64(0), timestampMicros: row.int64(1), type: row.text(2), agentID: row.optionalInt64(3),
                  agentName: row.optionalText(4), executionID: row.optionalText(5), payload: row.text(6), hash: EventLog.storedHash(row, 7))
        }
    }
}
