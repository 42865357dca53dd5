import Foundation
import Glibc

/// `aex doctor`: checks the installation and prints one line per check, `OK <check>` or
/// `FAIL <check>: <problem> — fix: <fix>`; exit 1 when any check fails. Each check is a pure
/// function of what was read (`DoctorChecks`); this file only reads and prints. Works whether or
/// not the daemon runs: the database is opened read-only.
enum DoctorCLI {
    static let doctor = CommandSpec(
        ["doctor"],
        summary: "Check the installation: AEX_HOME permissions, models.yaml and tools.yaml, a key for every provider, database integrity and schema, the ledger chain, every plugin's SHA-256, the daemon. Exit 1 when something is wrong.")

    static let all = [doctor]

    /// How long the daemon check waits to connect to the daemon and for each part of its answer to
    /// `/health`: a daemon that is alive but does not answer (stopped, hung) fails the check at once.
    static let healthTimeoutMilliseconds: Int32 = 2_000

    static func run(_ spec: CommandSpec, _ arguments: ParsedArguments, home: AEXHome) throws -> Int32 {
        let results = checks(home)
        for result in results { Console.out(result.line) }
        return results.allSatisfy(\.passed) ? 0 : 1
    }

    static func checks(_ home: AEXHome) -> [DoctorChecks.Result] {
        let root = DoctorChecks.home(.of(home.root))
        guard root.passed || HomePermissions.Observed.of(home.root).mode != nil else { return [root] }
        var results = [
            root,
            DoctorChecks.privateFile("admin.token permissions", .of(home.adminTokenPath), required: true),
            DoctorChecks.privateFile(".env permissions", .of(home.envFilePath)),
            DoctorChecks.databaseFiles(HomePermissions.databaseFiles(home).map { .of($0) }),
            DoctorChecks.privateFile("daemon.json permissions", .of(home.daemonStatePath)),
        ]
        results.append(DoctorChecks.modelsConfig(path: home.modelsConfigPath, error: modelsConfigError(home)))
        results.append(providerKeys(home))
        results.append(DoctorChecks.toolsConfig(path: home.toolsConfigPath, error: toolsConfigError(home)))
        let database = DoctorChecks.database(path: home.databasePath, DoctorChecks.DatabaseObservation.read(home.databasePath))
        results.append(database)
        if database.passed {
            do {
                results.append(DoctorChecks.ledger(try LedgerVerifier.verify(databaseAt: home.databasePath), readError: nil))
            } catch {
                results.append(DoctorChecks.ledger(nil, readError: "\(error)"))
            }
        }
        results.append(DoctorChecks.plugins(PluginRegistry.records(databasePath: home.databasePath)?.map {
            DoctorChecks.PluginObservation(name: $0.name, path: $0.path, bundled: $0.bundled, fileMatches: $0.fileMatches)
        }))
        results.append(DoctorChecks.daemon(observeDaemon(home)))
        return results
    }

    private static func modelsConfigError(_ home: AEXHome) -> String? {
        let types = PluginRegistry.enabledProviderTypes(databasePath: home.databasePath)
        do {
            try ConfigurationAPI.requireRegularFiles(home)
            _ = try ModelsConfig.load(path: home.modelsConfigPath, providerTypes: types)
            return nil
        } catch {
            return error.description
        }
    }

    /// Which providers of `models.yaml` (read without the plugin types, so a damaged database does
    /// not hide them) have their key, in this process's environment or `.env`, read as the daemon
    /// reads them (`ProviderKeys`).
    private static func providerKeys(_ home: AEXHome) -> DoctorChecks.Result {
        let providers = try? ModelsConfig.load(path: home.modelsConfigPath, providerTypes: nil).providers.values
            .sorted { $0.name < $1.name }
        let keys = Set(ProviderKeys.load(envFile: home.envFilePath, environment: ProcessInfo.processInfo.environment).keys)
        return DoctorChecks.providerKeys(providers, setVariables: keys, envFile: home.envFilePath, modelsFile: home.modelsConfigPath)
    }

    private static func toolsConfigError(_ home: AEXHome) -> String? {
        do {
            _ = try ToolsConfig.load(path: home.toolsConfigPath, toolNames: PluginRegistry.enabledToolNames(databasePath: home.databasePath))
            return nil
        } catch {
            return error.description
        }
    }

    private static func observeDaemon(_ home: AEXHome) -> DoctorChecks.DaemonObservation {
        guard let state = DaemonState.read(from: home.daemonStatePath) else {
            return FileManager.default.fileExists(atPath: home.daemonStatePath) ? .unreadableState : .notRunning
        }
        guard state.isDaemon(of: home) else { return .stale(pid: state.pid) }
        do {
            let response = try LoopbackHTTPClient.send(
                host: state.host, port: state.port, method: "GET", path: "/health", timeoutMilliseconds: healthTimeoutMilliseconds)
            var version: String?
            if case .object(let object)? = try? JSONReader.parse(response.body), case .string(let text)? = object["version"] {
                version = text
            }
            return .answered(pid: state.pid, url: state.baseURL, status: response.status, version: version)
        } catch let error as SystemError where [EAGAIN, EWOULDBLOCK, ETIMEDOUT].contains(error.code) {
            return .silent(pid: state.pid, url: state.baseURL, waitedMilliseconds: healthTimeoutMilliseconds,
                           stopped: state.processIsStopped)
        } catch {
            return .unreachable(pid: state.pid, url: state.baseURL, reason: "\(error)")
        }
    }
}

/// The checks of `aex doctor`, each a pure function of what was read.
public enum DoctorChecks {
    /// One recorded plugin, as found on disk.
    public struct PluginObservation: Sendable, Equatable {
        public var name: String
        public var path: String
        public var bundled: Bool
        public var fileMatches: Bool
    }

    /// Every recorded plugin's library still has its recorded SHA-256 (nil: the records could not
    /// be read; the database check says why).
    public static func plugins(_ observed: [PluginObservation]?) -> Result {
        let check = "plugins"
        guard let observed else { return .ok(check, note: "no plugin records readable") }
        let changed = observed.filter { !$0.fileMatches }
        guard changed.isEmpty else {
            let names = changed.map { "\($0.name) (\($0.path))" }.joined(separator: ", ")
            let fix = changed.allSatisfy(\.bundled)
                ? "run 'aex init' or restart the daemon to re-record the rebuilt bundled plugins"
                : "reinstall the plugin with 'aex plugin install', or 'aex plugin remove' it"
            return .fail(check, "the library of \(names) does not match its recorded SHA-256; it will not be loaded", fix: fix)
        }
        return .ok(check, note: "\(observed.count) recorded, every SHA-256 matches")
    }

    public struct Result: Sendable, Equatable {
        public var check: String
        /// nil when the check passed.
        public var problem: String?
        public var fix: String?
        /// Shown after an OK, in parentheses.
        public var note: String?

        public static func ok(_ check: String, note: String? = nil) -> Result { Result(check: check, problem: nil, fix: nil, note: note) }
        public static func fail(_ check: String, _ problem: String, fix: String) -> Result {
            Result(check: check, problem: problem, fix: fix, note: nil)
        }

        public var passed: Bool { problem == nil }

        /// One line whatever the texts hold (`PRAGMA quick_check` rows, for one, span lines).
        public var line: String {
            guard let problem else { return Self.oneLine("OK \(check)" + (note.map { " (\($0))" } ?? "")) }
            return Self.oneLine("FAIL \(check): \(problem) — fix: \(fix ?? "see the problem")")
        }

        static func oneLine(_ text: String) -> String {
            text.split(whereSeparator: \.isNewline).joined(separator: " ")
        }
    }

    public static func home(_ observed: HomePermissions.Observed) -> Result {
        let check = "AEX_HOME permissions"
        guard let finding = HomePermissions.home(observed) else { return .ok(check, note: observed.path) }
        return .fail(check, finding.problem, fix: finding.fix)
    }

    public static func privateFile(_ check: String, _ observed: HomePermissions.Observed, required: Bool = false) -> Result {
        if let finding = HomePermissions.privateFile(observed, required: required) { return .fail(check, finding.problem, fix: finding.fix) }
        return .ok(check, note: observed.mode == nil ? "absent" : nil)
    }

    /// `aex.db`, `-wal`, `-shm`: each present one closed to group and others.
    public static func databaseFiles(_ observed: [HomePermissions.Observed]) -> Result {
        let check = "database file permissions"
        let findings = observed.compactMap { HomePermissions.privateFile($0) }
        guard !findings.isEmpty else { return .ok(check) }
        return .fail(
            check, findings.map(\.problem).joined(separator: "; "), fix: findings.map(\.fix).joined(separator: "; "))
    }

    /// Every configured provider that needs a key (`ProviderConfig.needsAPIKey`) has its
    /// `api_key_env` among `setVariables` (set, non-empty, in the environment or `.env`); nil
    /// providers: `models.yaml` does not load (its own check says why).
    public static func providerKeys(_ providers: [ProviderConfig]?, setVariables: Set<String>, envFile: String, modelsFile: String) -> Result {
        let check = "provider keys"
        guard let providers else { return .ok(check, note: "not checked: models.yaml does not load") }
        let needing = providers.filter(\.needsAPIKey)
        let missing = needing.filter { !setVariables.contains($0.apiKeyEnv) }
        guard !missing.isEmpty else {
            return .ok(check, note: needing.isEmpty
                ? "no provider needs a key" : "\(needing.count) of \(providers.count) providers need a key; every one is set")
        }
        var variables: [String] = []
        for provider in missing where !variables.contains(provider.apiKeyEnv) { variables.append(provider.apiKeyEnv) }
        let named = missing.map { "\($0.name) (\($0.apiKeyEnv))" }.joined(separator: ", ")
        let problem = missing.count == 1
            ? "no API key for provider \(named): set neither in the environment nor in \(envFile); its models cannot be called"
            : "no API key for providers \(named): set neither in the environment nor in \(envFile); their models cannot be called"
        let lines = variables.map { "\($0)=..." }.joined(separator: " and ")
        let those = missing.count == 1 ? "the provider and its models" : "those providers and their models"
        return .fail(check, problem,
                     fix: "add \(lines) to \(envFile) (or remove \(those) from \(modelsFile)), then run 'aex models reload'")
    }

    /// `error` is what loading the file threw (nil: valid).
    public static func modelsConfig(path: String, error: String?) -> Result {
        guard let error else { return .ok("models.yaml") }
        return .fail("models.yaml", error, fix: "correct \(path), then run 'aex models reload'")
    }

    /// The ledger's hash chain and balance replay (`aex ledger verify`), read-only.
    public static func ledger(_ report: LedgerVerifier.Report?, readError: String?) -> Result {
        let check = "ledger chain"
        let fix = "run 'aex ledger verify' for details; restore aex.db from a backup taken before the damage"
        guard let report else { return .fail(check, "the ledger cannot be read: \(readError ?? "unknown error")", fix: fix) }
        if report.ok { return .ok(check, note: "\(report.events) events, head \(report.head.seq):\(report.head.hash.prefix(16))…") }
        var problems = report.problems
        if let seq = report.firstBadSeq, problems.isEmpty { problems.append("the chain breaks at entry \(seq)") }
        if !report.mismatchedAgents.isEmpty {
            let names = report.mismatchedAgents.map { (mismatch: LedgerVerifier.AgentMismatch) in mismatch.name }
            problems.append("balances differ from the replay for \(names.joined(separator: ", "))")
        }
        return .fail(check, problems.joined(separator: "; "), fix: fix)
    }

    public static func toolsConfig(path: String, error: String?) -> Result {
        guard let error else { return .ok("tools.yaml") }
        return .fail("tools.yaml", error, fix: "correct \(path), then run 'aex models reload'")
    }

    /// What a read-only look at the database found.
    public struct DatabaseObservation: Sendable, Equatable {
        public var openError: String?
        /// The rows of `PRAGMA quick_check` ("ok" alone when sound).
        public var quickCheck: [String]
        public var schemaVersion: Int64

        public init(openError: String? = nil, quickCheck: [String] = [], schemaVersion: Int64 = 0) {
            self.openError = openError
            self.quickCheck = quickCheck
            self.schemaVersion = schemaVersion
        }

        /// Opens `path` read-only: never creates, migrates or waits for the writer.
        static func read(_ path: String) -> DatabaseObservation {
            guard FileManager.default.fileExists(atPath: path) else { return DatabaseObservation(openError: "\(path) does not exist") }
            do {
                let health = try DatabaseHealth.inspect(path: path)
                return DatabaseObservation(quickCheck: health.quickCheck, schemaVersion: health.schemaVersion)
            } catch {
                return DatabaseObservation(openError: "cannot open \(path): \(error)")
            }
        }
    }

    public static func database(path: String, _ observed: DatabaseObservation, expectedVersion: Int = Migrations.latestVersion) -> Result {
        let check = "database integrity and schema"
        if let openError = observed.openError {
            return .fail(check, openError, fix: "run 'aex init' if it is missing; otherwise restore \(path) from a backup")
        }
        guard observed.quickCheck == ["ok"] else {
            let detail = observed.quickCheck.prefix(3).joined(separator: "; ")
            return .fail(check, "PRAGMA quick_check reports damage: \(detail.isEmpty ? "no answer" : detail)",
                         fix: "stop the daemon and restore \(path) from a backup")
        }
        if observed.schemaVersion > Int64(expectedVersion) {
            return .fail(check, "schema version \(observed.schemaVersion) is newer than this aex knows (\(expectedVersion))",
                         fix: "upgrade aex to the version that wrote \(path)")
        }
        if observed.schemaVersion < Int64(expectedVersion) {
            return .fail(check, "schema version \(observed.schemaVersion), this aex expects \(expectedVersion)",
                         fix: "run 'aex init' (or start the daemon) to migrate it")
        }
        return .ok(check, note: "schema version \(observed.schemaVersion)")
    }

    /// What `daemon.json` led to.
    public enum DaemonObservation: Sendable, Equatable {
        case notRunning
        case unreadableState
        /// `daemon.json` names a pid that is not this installation's daemon (it is ignored).
        case stale(pid: Int32)
        case unreachable(pid: Int32, url: String, reason: String)
        /// The daemon is alive (it holds the lock) but `/health` got no answer within
        /// `waitedMilliseconds`; `stopped`: its process is stopped (SIGSTOP, a debugger).
        case silent(pid: Int32, url: String, waitedMilliseconds: Int32, stopped: Bool)
        case answered(pid: Int32, url: String, status: Int, version: String?)
    }

    public static func daemon(_ observed: DaemonObservation, expectedVersion: String = AEXVersion.current) -> Result {
        let check = "daemon"
        switch observed {
        case .notRunning:
            return .ok(check, note: "not running")
        case .stale(let pid):
            return .ok(check, note: "not running; daemon.json is stale (pid \(pid) is not this installation's daemon) and is ignored")
        case .unreadableState:
            return .fail(check, "daemon.json cannot be read", fix: "stop the daemon if one runs ('aex daemon stop'), then remove daemon.json")
        case .unreachable(let pid, let url, let reason):
            return .fail(check, "the daemon (pid \(pid)) does not answer at \(url): \(reason)",
                         fix: "aex daemon stop, then aex daemon start; see logs/daemon.log")
        case .silent(let pid, let url, let waited, let stopped):
            let within = waited % 1_000 == 0 ? "\(waited / 1_000) s" : "\(waited) ms"
            if stopped {
                return .fail(check, "the daemon (pid \(pid)) is stopped (by SIGSTOP or a debugger) and did not answer /health at \(url) within \(within)",
                             fix: "resume it with 'kill -CONT \(pid)'; to restart it instead: 'kill -CONT \(pid)', 'aex daemon stop', then 'aex daemon start'")
            }
            return .fail(check, "the daemon (pid \(pid)) is alive but did not answer /health at \(url) within \(within)",
                         fix: "restart it: 'aex daemon stop' (if it does not exit, 'kill -KILL \(pid)'), then 'aex daemon start'; see logs/daemon.log")
        case .answered(let pid, let url, let status, let version):
            guard status == 200 else {
                return .fail(check, "the daemon (pid \(pid)) at \(url) answered /health with \(status)",
                             fix: "aex daemon stop, then aex daemon start; see logs/daemon.log")
            }
            guard version == expectedVersion else {
                return .fail(check, "the daemon (pid \(pid)) runs version \(version ?? "unknown"), this aex is \(expectedVersion)",
                             fix: "aex daemon stop, then aex daemon start, to run this version")
            }
            return .ok(check, note: "pid \(pid) on \(url), version \(expectedVersion)")
        }
    }
}
