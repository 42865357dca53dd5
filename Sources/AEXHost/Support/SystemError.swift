import Glibc

/// A failed system call: what AEX was doing and the errno text.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32

    public static func last(_ operation: String) -> SystemError { SystemError(operation: operation, code: errno) }

    public var description: String { "\(operation): \(String(cString: strerror(code)))" }
}
