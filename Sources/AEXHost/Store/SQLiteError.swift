/// An SQLite failure: the result code, and SQLite's message (which never contains bound values).
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String

    public var description: String { "sqlite error \(code): \(message)" }

    /// SQLITE_CONSTRAINT and its extended codes.
    public var isConstraintViolation: Bool { code & 0xff == 19 }
    /// SQLITE_BUSY / SQLITE_LOCKED.
    public var isBusy: Bool { code & 0xff == 5 || code & 0xff == 6 }
}
