/// A command line that cannot be run: exit code 2, a one-line reason and the usage.
public struct UsageError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// An operation that failed: exit code 1 (or the given code) and a message on stderr.
public struct CommandFailure: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32
    public init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }
    public var description: String { message }
}
