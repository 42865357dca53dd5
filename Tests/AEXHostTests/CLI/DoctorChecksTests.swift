import Foundation
import Glibc
import Testing
@testable import AEXHost

@Suite struct DoctorChecksTests {
    typealias Observed = HomePermissions.Observed

    @Test func homeMustBeAPrivateDirectory() {
        #expect(DoctorChecks.home(Observed(path: "/h", mode: S_IFDIR | 0o700)).line == "OK AEX_HOME permissions (/h)")
        let open = DoctorChecks.home(Observed(path: "/h", mode: S_IFDIR | 0o755))
        #expect(!open.passed)
        #expect(open.line == "FAIL AEX_HOME permissions: /h is accessible by group or others (mode 0755) — fix: chmod 700 /h")
        #expect(!DoctorChecks.home(Observed(path: "/h", mode: S_IFDIR | 0o701)).passed)
        #expect(DoctorChecks.home(Observed(path: "/h", mode: nil)).line.hasSuffix("/h does not exist — fix: aex init"))
        #expect(DoctorChecks.home(Observed(path: "/h", mode: S_IFREG | 0o700)).problem == "/h is not a directory")
    }

    @Test func secretsMustBeClosedToGroupAndOthers() {
        let token = DoctorChecks.privateFile("admin.token permissions", Observed(path: "/h/admin.token", mode: S_IFREG | 0o644), required: true)
        #expect(token.line == "FAIL admin.token permissions: /h/admin.token is readable or writable by group or others (mode 0644) — fix: chmod 600 /h/admin.token")
        #expect(DoctorChecks.privateFile("x", Observed(path: "/h/admin.token", mode: S_IFREG | 0o600), required: true).passed)
        #expect(DoctorChecks.privateFile("x", Observed(path: "/h/admin.token", mode: S_IFREG | 0o400), required: true).passed)
        #expect(!DoctorChecks.privateFile("x", Observed(path: "/h/admin.token", mode: nil), required: true).passed)
        #expect(DoctorChecks.privateFile(".env permissions", Observed(path: "/h/.env", mode: nil)).line == "OK .env permissions (absent)")
        #expect(!DoctorChecks.privateFile("x", Observed(path: "/h/.env", mode: S_IFREG | 0o620)).passed, "group-writable")
        #expect(DoctorChecks.privateFile("x", Observed(path: "/h/.env", mode: S_IFIFO | 0o600)).problem == "/h/.env is not a regular file (it is a FIFO)")
    }

    @Test func everyDatabaseFileCounts() {
        let files = [
            Observed(path: "/h/aex.db", mode: S_IFREG | 0o600), Observed(path: "/h/aex.db-wal", mode: S_IFREG | 0o644),
            Observed(path: "/h/aex.db-shm", mode: nil),
        ]
        let result = DoctorChecks.databaseFiles(files)
        #expect(!result.passed && result.problem?.contains("/h/aex.db-wal") == true && result.fix == "chmod 600 /h/aex.db-wal")
        #expect(DoctorChecks.databaseFiles(Array(files.prefix(1))).passed)
    }

    @Test func databaseIntegrityAndSchema() {
        typealias Observation = DoctorChecks.DatabaseObservation
        #expect(DoctorChecks.database(path: "/h/aex.db", Observation(quickCheck: ["ok"], schemaVersion: 3), expectedVersion: 3).passed)
        let old = DoctorChecks.database(path: "/h/aex.db", Observation(quickCheck: ["ok"], schemaVersion: 2), expectedVersion: 3)
        #expect(old.problem == "schema version 2, this aex expects 3")
        #expect(DoctorChecks.database(path: "/h/aex.db", Observation(quickCheck: ["ok"], schemaVersion: 4), expectedVersion: 3).problem?.contains("newer") == true)
        let damaged = DoctorChecks.database(path: "/h/aex.db", Observation(quickCheck: ["row 3 missing from index x"], schemaVersion: 3), expectedVersion: 3)
        #expect(damaged.problem?.contains("row 3 missing") == true)
        #expect(!DoctorChecks.database(path: "/h/aex.db", Observation(openError: "cannot open"), expectedVersion: 3).passed)
        let spanning = DoctorChecks.database(path: "/h/aex.db", Observation(quickCheck: ["*** in database main ***\nPage 12: bad"], schemaVersion: 3), expectedVersion: 3)
        #expect(spanning.line == "FAIL database integrity and schema: PRAGMA quick_check reports damage: *** in database main *** Page 12: bad — fix: stop the daemon and restore /h/aex.db from a backup",
                "one line per check")
    }

    @Test func databaseObservationReadsWithoutWriting() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/aex.db"
        #expect(DoctorChecks.DatabaseObservation.read(path).openError != nil)
        #expect(!FileManager.default.fileExists(atPath: path), "a read-only look creates nothing")
        let writer = try StoreWriter(path: path)
        writer.stop()
        let observed = DoctorChecks.DatabaseObservation.read(path)
        #expect(observed == DoctorChecks.DatabaseObservation(quickCheck: ["ok"], schemaVersion: Int64(Migrations.latestVersion)))
        #expect(DoctorChecks.database(path: path, observed).passed)
        unlink(path + "-wal")
        unlink(path + "-shm")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect(!DoctorChecks.database(path: path, DoctorChecks.DatabaseObservation.read(path)).passed)
    }

    @Test func modelsConfig() {
        #expect(DoctorChecks.modelsConfig(path: "/h/config/models.yaml", error: nil).line == "OK models.yaml")
        #expect(DoctorChecks.modelsConfig(path: "/h/config/models.yaml", error: "/h/config/models.yaml:1:10: bad").line
            == "FAIL models.yaml: /h/config/models.yaml:1:10: bad — fix: correct /h/config/models.yaml, then run 'aex models reload'")
    }

    @Test func daemonReachabilityAndVersion() {
        #expect(DoctorChecks.daemon(.notRunning).line == "OK daemon (not running)")
        #expect(DoctorChecks.daemon(.stale(pid: 7)).passed, "a stale daemon.json is ignored by every command")
        #expect(DoctorChecks.daemon(.answered(pid: 9, url: "http://127.0.0.1:1", status: 200, version: "1.0"), expectedVersion: "1.0").passed)
        #expect(DoctorChecks.daemon(.answered(pid: 9, url: "http://127.0.0.1:1", status: 200, version: "0.9"), expectedVersion: "1.0")
            .problem == "the daemon (pid 9) runs version 0.9, this aex is 1.0")
        #expect(!DoctorChecks.daemon(.answered(pid: 9, url: "u", status: 503, version: nil)).passed)
        #expect(!DoctorChecks.daemon(.unreachable(pid: 9, url: "u", reason: "refused")).passed)
        #expect(!DoctorChecks.daemon(.unreadableState).passed)
    }

    @Test func aKeyForEveryProviderThatNeedsOne() {
        let echo = ProviderConfig(name: "echo", baseURL: "local://echo", type: "echo")
        let openai = ProviderConfig(name: "openai", baseURL: "https://api.openai.com/v1", type: "openai_compatible", apiKeyEnv: "OPENAI_API_KEY")
        let groq = ProviderConfig(name: "groq", baseURL: "https://api.groq.com/openai/v1", type: "openai_compatible")
        let mirror = ProviderConfig(name: "mirror", baseURL: "https://mirror.example/v1", type: "openai_compatible", apiKeyEnv: "OPENAI_API_KEY")
        func check(_ providers: [ProviderConfig]?, _ set: Set<String>) -> DoctorChecks.Result {
            DoctorChecks.providerKeys(providers, setVariables: set, envFile: "/h/.env", modelsFile: "/h/config/models.yaml")
        }
        #expect(!echo.needsAPIKey && openai.needsAPIKey, "a local:// provider is called without a key")
        #expect(check([echo], []).line == "OK provider keys (no provider needs a key)")
        #expect(check([echo, openai], ["OPENAI_API_KEY"]).line == "OK provider keys (1 of 2 providers need a key; every one is set)")
        #expect(check(nil, []).passed, "models.yaml that does not load fails its own check")
        #expect(check([echo, openai], ["GROQ_API_KEY"]).line
            == "FAIL provider keys: no API key for provider openai (OPENAI_API_KEY): set neither in the environment nor in /h/.env; its models cannot be called — fix: add OPENAI_API_KEY=... to /h/.env (or remove the provider and its models from /h/config/models.yaml), then run 'aex models reload'")
        let several = check([echo, groq, mirror, openai], [])
        #expect(several.problem == "no API key for providers groq (GROQ_API_KEY), mirror (OPENAI_API_KEY), openai (OPENAI_API_KEY): set neither in the environment nor in /h/.env; their models cannot be called")
        #expect(several.fix == "add GROQ_API_KEY=... and OPENAI_API_KEY=... to /h/.env (or remove those providers and their models from /h/config/models.yaml), then run 'aex models reload'")
        #expect(check([groq, openai], ["OPENAI_API_KEY"]).problem?.contains("groq (GROQ_API_KEY)") == true)
        #expect(check([groq, openai], ["OPENAI_API_KEY"]).problem?.contains("openai") == false)
    }

    @Test func aDaemonThatDoesNotAnswerFailsWithARestart() {
        let hung = DoctorChecks.daemon(.silent(pid: 9, url: "http://127.0.0.1:1", waitedMilliseconds: 2_000, stopped: false))
        #expect(hung.line == "FAIL daemon: the daemon (pid 9) is alive but did not answer /health at http://127.0.0.1:1 within 2 s — fix: restart it: 'aex daemon stop' (if it does not exit, 'kill -KILL 9'), then 'aex daemon start'; see logs/daemon.log")
        let stopped = DoctorChecks.daemon(.silent(pid: 9, url: "http://127.0.0.1:1", waitedMilliseconds: 1_500, stopped: true))
        #expect(stopped.problem == "the daemon (pid 9) is stopped (by SIGSTOP or a debugger) and did not answer /health at http://127.0.0.1:1 within 1500 ms")
        #expect(stopped.fix == "resume it with 'kill -CONT 9'; to restart it instead: 'kill -CONT 9', 'aex daemon stop', then 'aex daemon start'")
    }

    @Test func aStoppedProcessIsSeenAsStopped() throws {
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer {
            kill(sleeper.processIdentifier, SIGKILL)
            sleeper.waitUntilExit()
        }
        let state = DaemonState(pid: sleeper.processIdentifier, host: "127.0.0.1", port: 1, startedAt: "")
        #expect(state.processExists && !state.processIsStopped)
        #expect(kill(sleeper.processIdentifier, SIGSTOP) == 0)
        var waited = 0
        while !state.processIsStopped, waited < 5_000 {
            usleep(10_000)
            waited += 10
        }
        #expect(state.processIsStopped && state.processExists)
        #expect(kill(sleeper.processIdentifier, SIGCONT) == 0)
    }

    @Test func permissionFindingsOfAHome() throws {
        let directory = TemporaryDirectory()
        let home = AEXHome(root: directory.path + "/home")
        #expect(HomePermissions.findings(home).map(\.problem) == ["\(home.root) does not exist"])
        #expect(mkdir(home.root, 0o700) == 0 && chmod(home.root, 0o700) == 0)
        #expect(HomePermissions.findings(home).isEmpty)
        #expect(FileManager.default.createFile(atPath: home.adminTokenPath, contents: Data("t".utf8), attributes: [.posixPermissions: 0o644]))
        #expect(chmod(home.root, 0o750) == 0)
        #expect(HomePermissions.findings(home).map(\.path) == [home.root, home.adminTokenPath])
        #expect(HomePermissions.octal(0o40755) == "0755")
    }
}
