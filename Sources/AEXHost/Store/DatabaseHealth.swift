/// A read-only look at a database file's health, for `aex doctor`: SQLite's own consistency
/// check and the schema version. Never creates, migrates or waits for the writer.
public enum DatabaseHealth {
    /// The rows of `PRAGMA quick_check` ("ok" alone when sound) and `PRAGMA user_version`.
    public static func inspect(path: String) throws -> (quickCheck: [String], schemaVersion: Int64) {
        let db = try SQLiteDatabase(path: path, readOnly: true)
        let rows = try db.query("PRAGMA quick_check") { $0.text(0) }
        let version = try db.query("PRAGMA user_version") { $0.int64(0) }.first ?? 0
        return (rows, version)
    }
}
