@testable import AEXHost

/// A database as version 1 of the schema left it, for the migration and read-only tests: the
/// version-1 tables, `user_version` 1, and then `rows` (SQL) — no writer has upgraded it.
enum Version1Database {
    static func create(at path: String, rows: String = "") throws {
        let db = try SQLiteDatabase(path: path)
        try db.execute(Migrations.version1)
        try db.execute("PRAGMA user_version = 1")
        if !rows.isEmpty { try db.execute(rows) }
    }
}
