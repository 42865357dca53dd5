import CSQLite

/// One SQLite connection. Not thread-safe: confine each instance to the thread that uses it.
/// This file and `SQLiteStatement.swift` are the only places that call SQLite.
public final class SQLiteDatabase {
    let handle: OpaquePointer
    /// Prepared statements of `run` and `query`, by SQL text: the writer runs the same few
    /// statements all day, and preparing them is most of their cost.
    private var cache: [String: SQLiteStatement] = [:]
    static let cachedStatementsMax = 128
    /// What another concern keeps on this connection for the open transaction (the ledger's); the
    /// writer calls its hooks at the transaction's edges.
    var transactionState: (any TransactionState)?
    /// The hot statements, prepared once, by the address of their static text.
    private var staticCache: [UInt: SQLiteStatement] = [:]

    /// Process-wide set-up, once, before the first connection.
    private static let configured: Void = { _ = aex_sqlite_disable_memory_statistics() }()

    public init(path: String, readOnly: Bool = false, busyTimeoutMilliseconds: Int32 = 5_000) throws(SQLiteError) {
        _ = Self.configured
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open database"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    deinit {
        cache.removeAll()
        staticCache.removeAll()
        sqlite3_close_v2(handle)
    }

    public func execute(_ sql: String) throws(SQLiteError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? lastErrorMessage
            sqlite3_free(errorMessage)
            throw SQLiteError(code: rc, message: message)
        }
    }

    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw SQLiteError(code: rc, message: lastErrorMessage) }
        return SQLiteStatement(handle: statement, database: self)
    }

    /// Runs one statement with bound values and steps it to completion.
    public func run(_ sql: String, _ values: [SQLiteValue] = []) throws(SQLiteError) {
        let statement = try cached(sql)
        defer { statement.reset() }
        try statement.bind(values)
        while try statement.step() {}
    }

    /// Runs a query and maps each row.
    public func query<T>(_ sql: String, _ values: [SQLiteValue] = [], _ row: (SQLiteStatement) throws -> T) throws -> [T] {
        let statement = try cached(sql)
        defer { statement.reset() }
        try statement.bind(values)
        var rows: [T] = []
        while try statement.step() { rows.append(try row(statement)) }
        return rows
    }

    /// A prepared statement for static SQL text, cached by the text's address: the writer's hot
    /// statements skip hashing their text. Reset it before binding (`bind(_:_:)` does not).
    public func statement(_ sql: StaticString) throws(SQLiteError) -> SQLiteStatement {
        let key = UInt(bitPattern: sql.utf8Start)
        if let statement = staticCache[key] { return statement }
        let text = sql.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
        let statement = try prepare(text)
        staticCache[key] = statement
        return statement
    }

    private func cached(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let statement = cache[sql] { return statement }
        let statement = try prepare(sql)
        if cache.count >= Self.cachedStatementsMax { cache.removeAll() }
        cache[sql] = statement
        return statement
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    var lastErrorMessage: String { String(cString: sqlite3_errmsg(handle)) }
    var lastErrorCode: Int32 { sqlite3_extended_errcode(handle) }
}
