import CLinux
import Foundation
import Glibc

/// `aex run`'s child: spawned in a process group of its own, with SIGINT, SIGTERM and SIGHUP sent to
/// `aex run` forwarded to that group, and waited for. One per process.
public enum ChildProcess {
    /// How the child ended.
    public struct Exit: Sendable, Equatable {
        public var code: Int32?
        public var signal: Int32?

        /// `aex run`'s own exit status: the child's code, or 128+N when signal N ended it.
        public var status: Int32 { code ?? (128 + (signal ?? 0)) }
    }

    public struct SpawnFailure: Error, CustomStringConvertible {
        public let command: String
        public let errorNumber: Int32
        /// 127 when the command is not found, 126 when it cannot be run (as shells do).
        public var status: Int32 { errorNumber == ENOENT ? 127 : 126 }
        public var description: String { "cannot run '\(command)': \(String(cString: strerror(errorNumber)))" }
    }

    /// Installs the forwarding of SIGINT, SIGTERM and SIGHUP (before `spawn`, so none is lost).
    public static func forwardSignals() {
        _ = aex_run_forward_signals()
    }

    /// Starts `command` (found in PATH) with exactly `environment`, under `umask`.
    public static func spawn(_ command: [String], environment: [String: String], umask: mode_t) throws(SpawnFailure) -> Int32 {
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        let pid = aex_run_spawn(command[0], argv, envp, UInt32(umask))
        guard pid > 0 else { throw SpawnFailure(command: command[0], errorNumber: errno) }
        return pid
    }

    /// Waits for the child to end (signals to `aex run` meanwhile go to its group).
    public static func wait(_ pid: Int32) -> Exit {
        var code: Int32 = 0
        var signal: Int32 = 0
        guard aex_run_wait(pid, &code, &signal) == 0 else { return Exit(code: 1, signal: nil) }
        return code >= 0 ? Exit(code: code, signal: nil) : Exit(code: nil, signal: signal)
    }
}
