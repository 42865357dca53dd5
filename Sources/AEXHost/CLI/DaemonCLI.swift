import Foundation
import Glibc

/// `aex daemon start|stop|status`.
enum DaemonCLI {
    static let start = CommandSpec(
        ["daemon", "start"], summary: "Start the AEX daemon in the background (or in the foreground) and wait until it answers.",
        options: [
            .value("--port", "N", "TCP port (default 9000; 0 picks a free port)"),
            .value("--host", "ADDR", "IPv4 address to bind (default 127.0.0.1)"),
            .flag("--foreground", "run in this process; logs also go to stderr"),
        ])
    static let stop = CommandSpec(
        ["daemon", "stop"], summary: "Stop the daemon gracefully: stop accepting, let in-flight requests finish, then exit.")
    static let status = CommandSpec(
        ["daemon", "status"], summary: "Say whether the daemon runs (exit 0) or not (exit 3).", options: [.flag("--json", "machine-readable output")])

    static let all = [start, stop, status]
    static let startWaitMilliseconds = 15_000
    static let stopWaitMilliseconds = 60_000

    static func run(_ spec: CommandSpec, _ arguments: ParsedArguments, home: AEXHome) throws -> Int32 {
        switch spec.words[1] {
        case "start": return try startDaemon(arguments, home: home)
        case "stop": return try stopDaemon(home: home)
        default: return statusOf(home: home, json: arguments.flag("--json"))
        }
    }

    /// What `daemon.json` says, checked: a pid is only believed when that process holds this
    /// installation's writer lock (`aex.lock`), so a stale file naming a reused pid is never
    /// mistaken for the daemon, signalled or sent the admin token.
    enum Lookup {
        /// No `daemon.json` (or an unreadable one).
        case absent
        /// `daemon.json` names a process that is not this installation's daemon.
        case stale(DaemonState)
        /// The daemon holds the lock but does not answer `/health`.
        case unresponsive(DaemonState)
        case running(DaemonState)
    }

    static func lookup(_ home: AEXHome) -> Lookup {
        guard let state = DaemonState.read(from: home.daemonStatePath) else { return .absent }
        guard state.isDaemon(of: home) else { return .stale(state) }
        guard let response = try? LoopbackHTTPClient.send(
            host: state.host, port: state.port, method: "GET", path: "/health", timeoutMilliseconds: 2_000),
              response.status == 200
        else { return .unresponsive(state) }
        return .running(state)
    }

    /// The running daemon, if `daemon.json` names this installation's daemon and it answers `/health`.
    static func running(_ home: AEXHome) -> DaemonState? {
        if case .running(let state) = lookup(home) { return state }
        return nil
    }

    /// Removes a stale `daemon.json`, but only while holding the writer lock: a daemon writes the
    /// file only while it holds that lock, so a file seen under it cannot be a live daemon's.
    /// False when the lock is busy (a daemon may be starting) and the file was left alone.
    static func removeStaleState(_ home: AEXHome) -> Bool {
        guard let lock = try? WriterLock.tryAcquire(home) else { return false }
        defer { lock.release() }
        if let state = DaemonState.read(from: home.daemonStatePath), state.isDaemon(of: home) { return false }
        return unlink(home.daemonStatePath) == 0 || errno == ENOENT
    }

    static func staleNote(_ state: DaemonState) -> String {
        "daemon.json was stale: pid \(state.pid) is not this installation's daemon"
    }

    private static func startDaemon(_ arguments: ParsedArguments, home: AEXHome) throws -> Int32 {
        var options = DaemonRunner.Options()
        if let text = arguments.value("--port") { options.port = Int(try ValueParsers.integer(text, "--port", minimum: 0)) }
        guard options.port <= 65_535 else { throw UsageError("--port must be 0-65535") }
        if let host = arguments.value("--host") {
            guard host.split(separator: ".").count == 4 || host == "localhost" else { throw UsageError("--host must be an IPv4 address") }
            options.host = host
        }
        guard home.isInitialized else { throw CommandFailure("\(home.root) is not initialized; run 'aex init' first") }
        if let state = running(home) {
            Console.out("AEX daemon is already running (pid \(state.pid), \(state.baseURL)); nothing started")
            return 0
        }
        for finding in HomePermissions.findings(home) {
            Console.err("aex: warning: \(finding.problem); starting anyway (fix: \(finding.fix))")
        }
        if arguments.flag("--foreground") {
            try DaemonRunner.run(home: home, options: options, environment: ProcessInfo.processInfo.environment)
            return 0
        }
        if case .stale = lookup(home) { _ = removeStaleState(home) }
        let logFD = open(home.daemonLogPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard logFD >= 0 else { throw CommandFailure("cannot open \(home.daemonLogPath): \(SystemError.last("open"))") }
        defer { close(logFD) }
        let logSizeBefore = (try? FileManager.default.attributesOfItem(atPath: home.daemonLogPath)[.size] as? Int) ?? 0
        let executable = try selfExecutable()
        let argv = [executable, "daemon", "start", "--foreground", "--port", String(options.port), "--host", options.host]
        let pid: pid_t
        do { pid = try DetachedProcess.start(executable, arguments: argv, logFD: logFD) } catch {
            throw CommandFailure("cannot start the daemon: \(error)")
        }

        var waitedMilliseconds = 0
        while waitedMilliseconds < startWaitMilliseconds {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw CommandFailure("the daemon exited during start-up:\n" + logTail(home, from: logSizeBefore))
            }
            if let state = DaemonState.read(from: home.daemonStatePath), state.pid == pid, running(home) != nil {
                Console.out("AEX daemon started (pid \(pid)) on \(state.baseURL)")
                return 0
            }
            usleep(50_000)
            waitedMilliseconds += 50
        }
        kill(pid, SIGKILL)
        throw CommandFailure("the daemon did not answer /health within \(startWaitMilliseconds / 1_000) s:\n" + logTail(home, from: logSizeBefore))
    }

    private static func stopDaemon(home: AEXHome) throws -> Int32 {
        let state: DaemonState
        switch lookup(home) {
        case .absent:
            Console.out("AEX daemon is not running")
            return 0
        case .stale(let stale):
            let outcome = removeStaleState(home) ? "removed it" : "ignored it"
            Console.out("AEX daemon is not running (\(staleNote(stale)); \(outcome), signalled nothing)")
            return 0
        case .unresponsive(let found), .running(let found):
            state = found
        }
        guard kill(state.pid, SIGTERM) == 0 else { throw CommandFailure("cannot signal pid \(state.pid): \(SystemError.last("kill"))") }
        var waitedMilliseconds = 0
        while state.processExists {
            guard waitedMilliseconds < stopWaitMilliseconds else {
                throw CommandFailure("the daemon (pid \(state.pid)) did not exit within \(stopWaitMilliseconds / 1_000) s")
            }
            usleep(20_000)
            waitedMilliseconds += 20
        }
        Console.out("AEX daemon stopped (pid \(state.pid))")
        return 0
    }

    private static func statusOf(home: AEXHome, json: Bool) -> Int32 {
        let state: DaemonState
        switch lookup(home) {
        case .absent:
            Console.out(json ? #"{"running":false}"# : "AEX daemon is not running")
            return 3
        case .stale(let stale):
            Console.out(json ? #"{"running":false}"# : "AEX daemon is not running (\(staleNote(stale)); ignored)")
            return 3
        case .unresponsive(let found):
            Console.out(json ? #"{"running":false}"# : "AEX daemon (pid \(found.pid)) does not answer on \(found.baseURL)")
            return 3
        case .running(let found):
            state = found
        }
        if json {
            guard case .object(var object) = state.json else { return 1 }
            object["running"] = .bool(true)
            Console.out(JSONValue.object(object).canonicalText)
        } else {
            Console.out("AEX daemon is running (pid \(state.pid)) on \(state.baseURL), started \(state.startedAt)")
        }
        return 0
    }

    private static func selfExecutable() throws -> String {
        var buffer = [CChar](repeating: 0, count: 4_096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { throw CommandFailure("cannot find the aex executable") }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The last lines the daemon logged since `offset`.
    static func logTail(_ home: AEXHome, from offset: Int, lines: Int = 20) -> String {
        guard let data = FileManager.default.contents(atPath: home.daemonLogPath) else { return "(no log)" }
        let text = String(decoding: data.dropFirst(min(offset, data.count)), as: UTF8.self)
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}
