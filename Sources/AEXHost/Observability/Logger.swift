import Glibc
import Synchronization

/// JSON-lines logger for `logs/daemon.log`. Each line: `{"fields":…,"level":…,"msg":…,"ts":…}`.
/// Never given tokens, provider keys or prompt text. Thread-safe; one `write(2)` per line.
public final class Logger: Sendable {
    public enum Level: String, Sendable { case info, warn, error }

    private let fd: Int32
    private let echoFD: Int32?
    private let lock = Mutex(())

    /// Appends to `path`; also echoes to stderr when stderr is a different file (foreground runs).
    public init(path: String) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.last("opening \(path)") }
        var logStat = stat()
        var errStat = stat()
        fstat(fd, &logStat)
        let sameFile = fstat(2, &errStat) == 0 && logStat.st_dev == errStat.st_dev && logStat.st_ino == errStat.st_ino
        echoFD = sameFile ? nil : 2
    }

    deinit { close(fd) }

    public func log(_ level: Level, _ message: String, _ fields: [String: JSONValue] = [:]) {
        var line = [UInt8]()
        JSONValue.object([
            "ts": .string(WallClock.iso8601(micros: WallClock.nowMicros(), fractional: true)),
            "level": .string(level.rawValue), "msg": .string(message), "fields": .object(fields),
        ]).write(into: &line)
        line.append(0x0a)
        lock.withLock { _ in
            _ = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if let echoFD { _ = line.withUnsafeBytes { Glibc.write(echoFD, $0.baseAddress, $0.count) } }
        }
    }

    public func info(_ message: String, _ fields: [String: JSONValue] = [:]) { log(.info, message, fields) }
    public func warn(_ message: String, _ fields: [String: JSONValue] = [:]) { log(.warn, message, fields) }
    public func error(_ message: String, _ fields: [String: JSONValue] = [:]) { log(.error, message, fields) }
}
