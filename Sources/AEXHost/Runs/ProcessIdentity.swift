import Foundation
import Glibc

/// A process as the kernel names it at one moment: its pid and its start time (clock ticks since
/// boot, field 22 of `/proc/PID/stat`). Together they survive pid reuse: a later process with the
/// same pid has another start time. Read and signalled through /proc and kill(2) only.
public struct ProcessIdentity: Sendable, Equatable {
    public var pid: Int32
    public var startTicks: Int64

    public init(pid: Int32, startTicks: Int64) {
        self.pid = pid
        self.startTicks = startTicks
    }

    /// The live process with this pid now, or nil when there is none (a zombie counts as gone).
    public static func current(pid: Int32) -> ProcessIdentity? {
        guard pid > 0, let fields = statFields(pid) else { return nil }
        return ProcessIdentity(pid: pid, startTicks: fields.startTicks)
    }

    /// True while this very process runs: same pid, same start time, not a zombie.
    public var isAlive: Bool { Self.current(pid: pid) == self }

    /// State letter and start time from `/proc/PID/stat`; nil when the process is gone or a zombie.
    private static func statFields(_ pid: Int32) -> (state: Character, startTicks: Int64)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After the command's closing parenthesis: field 3 (state) onwards.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let state = fields[0].first, let start = Int64(fields[19]) else { return nil }
        guard state != "Z", state != "X" else { return nil }
        return (state, start)
    }
}

/// Signals to a run's process group, whose id is its child's pid.
///
/// The group is the child's while the child lives (same pid, same start time), and also once the
/// child is gone while its descendants live on in the group: Linux gives no new process a pid that
/// is still some group's id. It is someone else's when another process now has the child's pid.
public enum ProcessGroup {
    /// Sends `signal` to every process of `child`'s group; false when the group is gone or no
    /// longer the child's.
    @discardableResult
    public static func signal(of child: ProcessIdentity, _ signal: Int32) -> Bool {
        guard child.pid > 1 else { return false }
        if let current = ProcessIdentity.current(pid: child.pid), current != child { return false }
        return kill(-child.pid, signal) == 0
    }
}

extension ProcessGroup {
    /// True while `child`'s group has a process (zombies included: their parent is about to reap them).
    public static func exists(of child: ProcessIdentity) -> Bool { signal(of: child, 0) }
}
