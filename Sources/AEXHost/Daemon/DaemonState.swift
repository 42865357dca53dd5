import Foundation
import Glibc

/// `daemon.json`: written by a running daemon once it listens; the CLI finds the daemon through it.
public struct DaemonState: Sendable, Equatable {
    public var pid: Int32
    public var host: String
    public var port: Int
    public var startedAt: String

    /// The most `daemon.json` may hold when read back.
    static let fileBytesMax = 64 * 1024

    public var json: JSONValue {
        .object(["pid": .int(Int64(pid)), "host": .string(host), "port": .int(Int64(port)), "started_at": .string(startedAt)])
    }

    public var baseURL: String { "http://\(host):\(port)" }

    /// Written to a temporary file created with mode 0600 and renamed, so readers never see half a
    /// file and nobody else can read or replace it (the CLI sends the admin token where it points).
    public func write(to path: String) throws {
        try WholeFile.write(Array((json.canonicalText + "\n").utf8), to: path, mode: 0o600, durable: false)
    }

    public static func read(from path: String) -> DaemonState? {
        guard let data = try? ConfigFile.read(path, maxBytes: Self.fileBytesMax),
              case .object(let object)? = try? JSONReader.parse(data),
              case .int(let pid)? = object["pid"], case .string(let host)? = object["host"],
              case .int(let port)? = object["port"], case .string(let startedAt)? = object["started_at"],
              let pid32 = Int32(exactly: pid)
        else { return nil }
        return DaemonState(pid: pid32, host: host, port: Int(port), startedAt: startedAt)
    }

    /// True when a live process with this pid exists (it may belong to someone else: see
    /// `isDaemon(of:)`). A zombie, exited but not yet reaped by its new parent, counts as gone.
    public var processExists: Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        let state = processStateLetter
        return state != "Z" && state != "X"
    }

    /// True when the process is stopped (by SIGSTOP or SIGTSTP, or a debugger): it holds its lock
    /// and its port but answers nothing until it is continued.
    public var processIsStopped: Bool {
        let state = processStateLetter
        return state == "T" || state == "t"
    }

    /// The state letter of `/proc/PID/stat` (R, S, D, T, t, Z, X…), nil when it cannot be read.
    private var processStateLetter: Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].drop { $0 == " " }.first
    }

    /// True when the pid is this installation's daemon: a live process holding `aex.lock`. A stale
    /// `daemon.json` whose pid now belongs to another process is not, so nothing signals it.
    public func isDaemon(of home: AEXHome) -> Bool {
        processExists && WriterLockHolder.holds(pid: pid, home: home)
    }
}
