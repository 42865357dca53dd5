import CLinux
import Glibc

/// Starts a program in a new session, detached from the caller's terminal: stdin from /dev/null,
/// stdout and stderr appended to a log. `aex daemon start` starts the daemon this way.
enum DetachedProcess {
    /// The child's pid; `SystemError` ("spawn") when it could not be started.
    static func start(_ executable: String, arguments: [String], logFD: Int32) throws(SystemError) -> pid_t {
        var cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let pid = aex_spawn_detached(executable, &cArguments, logFD)
        guard pid > 0 else { throw SystemError.last("spawn") }
        return pid
    }
}
