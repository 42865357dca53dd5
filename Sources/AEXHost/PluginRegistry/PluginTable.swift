/// The `tool_plugins` table and the ledger events of its changes, run on the store writer inside
/// one transaction each, so a row never changes without its event.
enum PluginTable {
    static func all(_ db: SQLiteDatabase) throws -> [PluginRecord] {
        try db.query("SELECT manifest, path, sha256, enabled, bundled, installed_at FROM tool_plugins ORDER BY name") { row in
            PluginRecord(description: try PluginDescription(json: try JSONReader.parse(row.bytes(0))), path: row.text(1),
                         sha256: row.text(2), enabled: row.bool(3), bundled: row.bool(4), installedAtMicros: row.int64(5))
        }
    }

    /// Inserts or replaces the row of `record.name`, with its event.
    static func put(_ record: PluginRecord, event: LedgerEventType, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        let description = record.description
        try db.run(
            """
            INSERT INTO tool_plugins (name, version, kind, abi, path, sha256, manifest, enabled, installed_at, bundled)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET version = excluded.version, kind = excluded.kind, abi = excluded.abi,
                path = excluded.path, sha256 = excluded.sha256, manifest = excluded.manifest, enabled = excluded.enabled,
                installed_at = excluded.installed_at, bundled = excluded.bundled
            """,
            [.text(record.name), .text(description.version), .text(description.kind.rawValue), .text(description.abi),
             .text(record.path), .text(record.sha256), .text(description.json.canonicalText), .bool(record.enabled),
             .integer(record.installedAtMicros), .bool(record.bundled)])
        try appendEvent(event, record, db, nowMicros: nowMicros)
    }

    static func setEnabled(_ record: PluginRecord, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        try db.run("UPDATE tool_plugins SET enabled = ? WHERE name = ?", [.bool(record.enabled), .text(record.name)])
        try appendEvent(record.enabled ? .pluginEnabled : .pluginDisabled, record, db, nowMicros: nowMicros)
    }

    static func delete(_ record: PluginRecord, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        try db.run("DELETE FROM tool_plugins WHERE name = ?", [.text(record.name)])
        try appendEvent(.pluginRemoved, record, db, nowMicros: nowMicros)
    }

    private static func appendEvent(_ type: LedgerEventType, _ record: PluginRecord, _ db: SQLiteDatabase, nowMicros: Int64) throws {
        let description = record.description
        _ = try EventLog.append(LedgerEvent(type: type, agentID: nil, agentName: nil, payload: .object([
            "name": .string(record.name), "version": .string(description.version), "kind": .string(description.kind.rawValue),
            "abi": .string(description.abi), "provides": .array(description.provides.map { .string($0) }),
            "sha256": .string(record.sha256), "path": .string(record.path), "bundled": .bool(record.bundled),
        ])), to: db, nowMicros: nowMicros)
    }
}
