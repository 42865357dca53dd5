import CSQLite

/// A value bound to or read from SQLite.
public enum SQLiteValue: Sendable, Equatable {
    case integer(Int64)
    case text(String)
    case null

    public static func optional(_ value: Int64?) -> SQLiteValue { value.map { .integer($0) } ?? .null }
    public static func optional(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
    public static func bool(_ value: Bool) -> SQLiteValue { .integer(value ? 1 : 0) }
}

/// A prepared statement, finalized when released. Confined to its connection's thread.
public final class SQLiteStatement {
    let handle: OpaquePointer
    private let database: SQLiteDatabase

    init(handle: OpaquePointer, database: SQLiteDatabase) {
        self.handle = handle
        self.database = database
    }

    /// Copies of the text and blobs bound by index, one buffer per parameter, bound without SQLite
    /// copying them again (`SQLITE_STATIC`, no allocation once warm). A buffer is rewritten only
    /// when its own parameter is bound again, which replaces the binding that points into it;
    /// SQLite reads bound values only while stepping. Freed after the statement is finalized.
    private var parameterBuffers: [UnsafeMutableRawBufferPointer] = []

    deinit {
        sqlite3_finalize(handle)
        for buffer in parameterBuffers { buffer.deallocate() }
    }

    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let number): rc = sqlite3_bind_int64(handle, index, number)
            case .text(let text): rc = sqlite3_bind_text(handle, index, text, -1, aex_sqlite_transient())
            case .null: rc = sqlite3_bind_null(handle, index)
            }
            if rc != SQLITE_OK { throw SQLiteError(code: rc, message: database.lastErrorMessage) }
        }
    }

    /// Binds one parameter (1-based). The hot paths bind this way: no array of values, no copy of
    /// the statement text, strings copied once by SQLite.
    public func bind(_ index: Int32, _ value: Int64) throws(SQLiteError) {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    public func bind(_ index: Int32, _ value: Int64?) throws(SQLiteError) {
        try check(value.map { sqlite3_bind_int64(handle, index, $0) } ?? sqlite3_bind_null(handle, index))
    }

    public func bind(_ index: Int32, _ text: String?) throws(SQLiteError) {
        guard var text else { return try check(sqlite3_bind_null(handle, index)) }
        let rc = text.withUTF8 { bindCopy(index, UnsafeRawBufferPointer($0), asText: true) }
        try check(rc)
    }

    /// Binds UTF-8 bytes as text.
    public func bind(_ index: Int32, utf8 bytes: [UInt8]) throws(SQLiteError) {
        let rc = bytes.withUnsafeBytes { bindCopy(index, $0, asText: true) }
        try check(rc)
    }

    /// Binds bytes as a blob.
    public func bind(_ index: Int32, blob bytes: [UInt8]) throws(SQLiteError) {
        let rc = bytes.withUnsafeBytes { bindCopy(index, $0, asText: false) }
        try check(rc)
    }

    /// Steps to the end, then resets (keeping the bindings' slots for the next run).
    public func runToCompletion() throws(SQLiteError) {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    /// Copies the bytes into the parameter's buffer and binds them there. The buffer always has an
    /// address, so an empty value binds '' or an empty blob (not NULL).
    private func bindCopy(_ index: Int32, _ bytes: UnsafeRawBufferPointer, asText: Bool) -> Int32 {
        guard index >= 1, bytes.count < Int(Int32.max) else { return SQLITE_RANGE }
        let slot = Int(index) - 1
        while parameterBuffers.count <= slot { parameterBuffers.append(UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
        if parameterBuffers[slot].count < max(bytes.count, 1) {
            parameterBuffers[slot].deallocate()
            parameterBuffers[slot] = .allocate(byteCount: max(bytes.count * 2, 64), alignment: 8)
        }
        let buffer = parameterBuffers[slot]
        buffer.copyMemory(from: bytes)
        guard let base = buffer.baseAddress else { return SQLITE_NOMEM }
        if asText {
            return sqlite3_bind_text(handle, index, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil)
        }
        return sqlite3_bind_blob(handle, index, base, Int32(bytes.count), nil)
    }

    private func check(_ rc: Int32) throws(SQLiteError) {
        if rc != SQLITE_OK { throw SQLiteError(code: rc, message: database.lastErrorMessage) }
    }

    /// Ends the current execution so the statement can run again (and releases its read snapshot).
    public func reset() {
        sqlite3_reset(handle)
    }

    /// Advances; true when a row is available, false when done.
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: database.lastErrorCode, message: database.lastErrorMessage)
        }
    }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    public func optionalInt64(_ column: Int32) -> Int64? {
        sqlite3_column_type(handle, column) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, column)
    }

    public func bool(_ column: Int32) -> Bool { sqlite3_column_int64(handle, column) != 0 }

    public func text(_ column: Int32) -> String { optionalText(column) ?? "" }

    /// Whether the column holds text (as opposed to a blob, a number or NULL).
    public func isText(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_TEXT }

    /// A text or blob column's bytes.
    public func bytes(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let pointer = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    public func optionalText(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }
}
