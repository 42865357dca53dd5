import CLinux
import Foundation
import Glibc
import Synchronization

/// Runs the daemon in this process until SIGTERM or SIGINT: takes the writer lock, opens the store,
/// serves HTTP, writes `daemon.json`; on the signal stops gracefully and removes `daemon.json`.
public enum DaemonRunner {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 9000
        public init() {}
    }

    /// How long a start waits for the writer lock (a CLI command may hold it briefly).
    static let writerLockWaitMilliseconds = 10_000

    /// Connections need descriptors: raise the soft limit to the hard limit.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    public static func run(home: AEXHome, options: Options, environment: [String: String]) throws {
        // Before any thread starts, so every thread inherits the blocked set and one thread takes them.
        aex_block_daemon_signals()
        guard home.isInitialized else { throw ConfigurationError("\(home.root) is not initialized; run 'aex init' first") }
        let logger = try Logger(path: home.daemonLogPath)
        for finding in HomePermissions.findings(home) {
            logger.warn("AEX_HOME permissions: " + finding.problem, ["path": .string(finding.path), "fix": .string(finding.fix)])
        }
        raiseDescriptorLimit()
        guard let lock = try WriterLock.tryAcquire(home, waitMilliseconds: writerLockWaitMilliseconds) else {
            logger.error("another aex process holds the writer lock", ["home": .string(home.root)])
            throw ConfigurationError("another aex process holds \(home.writerLockPath); is a daemon already running?")
        }
        defer { lock.release() }

        // The operator's settings, read once; each part goes down as a view of them.
        let settings = try Settings.from(environment: environment)

        let adminToken = try ConfigFile.readText(home.adminTokenPath, maxBytes: AEXHome.adminTokenFileBytesMax).trimmingCharacters(in: .whitespacesAndNewlines)
        guard Token.shape(adminToken) == .admin else { throw ConfigurationError("\(home.adminTokenPath) does not hold an admin token") }

        PluginHostTable.logSink = { level, message in
            logger.log(level >= 2 ? .error : level == 1 ? .warn : .info, "plugin: " + message)
        }
        let writer = try StoreWriter(path: home.databasePath, durability: settings.durability)
        let callLedger = CallLedger(writer: writer, logger: logger)
        let recovered = try callLedger.recoverOpenReservations()
        if recovered > 0 { logger.warn("resolved reservations left open by a stopped process", ["count": .int(Int64(recovered))]) }

        // Plugins: the bundled ones (re)registered, then every enabled provider plugin loaded from its
        // recorded path after its SHA-256 is checked. A library refused is logged; the rest serve.
        let examiner = PluginExaminer()
        let startRegistry = PluginRegistry(writer: writer, pluginsDirectory: home.pluginsDirectory, examiner: examiner,
                                           activation: LocalPluginActivation(modelsConfigPath: home.modelsConfigPath))
        for failure in try startRegistry.registerBundled(directory: PluginRegistry.executableDirectory()) {
            logger.error("bundled plugin not registered", ["reason": .string(failure.description)])
        }
        var libraries: [PluginLibrary] = []
        var enabledTypes: Set<String> = []
        for record in try startRegistry.list() where record.enabled && record.description.kind == .provider {
            enabledTypes.formUnion(record.description.provides)
            do {
                let library = try PluginLoading.load(record)
                libraries.append(library)
                logger.info("provider plugin loaded", [
                    "plugin": .string(library.name), "version": .string(library.version), "abi": .string(library.abi),
                    "types": .string(library.provides.joined(separator: ",")),
                ])
            } catch {
                logger.error("plugin refused", ["plugin": .string(record.name), "reason": .string(error.description)])
            }
        }
        let plugins = ProviderPlugins(libraries: libraries, enabledTypes: enabledTypes)
        // Tool plugins are never loaded here: their tools are served by worker processes.
        let tools = ToolCatalog()
        for record in try startRegistry.list() where record.enabled && record.description.kind == .tool {
            do {
                try PluginLoading.verify(record)
                tools.add(plugin: record.name, tools: record.description.tools, path: record.path, sha256: record.sha256)
            } catch {
                logger.error("plugin refused", ["plugin": .string(record.name), "reason": .string(error.description)])
            }
        }
        let catalog: ModelCatalog
        do {
            try ConfigurationAPI.requireRegularFiles(home)
            catalog = try ModelCatalog(home: home, providerTypes: { plugins.types }, toolNames: { Set(tools.all.map(\.tool.name)) },
                                       environment: environment)
        } catch {
            logger.error("invalid configuration", ["error": .string(error.description)])
            writer.stop()
            throw ConfigurationError("invalid configuration: \(error)")
        }
        let toolRunner = ToolRunner(limits: settings.toolWorkerLimits, loopCount: settings.eventLoops, executable: PluginExaminer.runningExecutable())
        let pluginRegistry = PluginRegistry(
            writer: writer, pluginsDirectory: home.pluginsDirectory, examiner: examiner,
            activation: DaemonPluginActivation(plugins: plugins, tools: tools, toolRunner: toolRunner, catalog: catalog,
                                               modelsConfigPath: home.modelsConfigPath, logger: logger))

        let registry = try AgentService.loadRegistry(writer)
        let agents = AgentService(writer: writer, registry: registry)
        // Runs a previous daemon recorded: taken over, or ended when their `aex run` is gone.
        let runs = RunSupervisor(writer: writer, registry: registry, killGraceSeconds: settings.runKillGraceSeconds, logger: logger)
        try runs.reconcile()
        let lastExecution = try callLedger.lastExecutionID().flatMap(ExecutionIDs.number)
        let answers = IdempotentAnswerStore(databasePath: home.databasePath, writer: writer, limits: settings.idempotentAnswerLimits, logger: logger)
        answers.startSweeping()
        let proxy = ProxyAPI(catalog: catalog, plugins: plugins, registry: registry, ledger: callLedger, answers: answers,
                             tools: tools, toolRunner: toolRunner,
                             settings: settings.proxySettings,
                             loopCount: settings.eventLoops, executionIDs: ExecutionIDs(startingAfter: lastExecution, nowMicros: WallClock.nowMicros()),
                             logger: logger, budgetExhausted: { runs.exhausted($0) })
        let configuration = ConfigurationAPI(catalog: catalog, ledger: callLedger, logger: logger, home: home)
        // The server is made after the gateway that serves its metrics: its connection count is read through this box.
        let openConnections = ServerBox()
        let metrics = MetricsAPI.Sources(
            proxy: proxy, registry: registry, writer: writer, databasePath: home.databasePath,
            openConnections: { openConnections.server?.openConnections ?? 0 }, runsActive: { runs.list().count },
            startedAtMicros: WallClock.nowMicros())
        let gateway = Gateway(adminToken: adminToken, agents: agents, proxy: proxy, configuration: configuration,
                              ledger: LedgerAPI(databasePath: home.databasePath), plugins: PluginAPI(registry: pluginRegistry), runs: runs,
                              metrics: metrics)
        let server = try HTTPServer(host: options.host, port: options.port, loopCount: settings.eventLoops, limits: settings.httpServerLimits, handler: gateway)
        openConnections.store(server)
        server.start()
        runs.startWatching()

        let state = DaemonState(
            pid: getpid(), host: options.host, port: server.port, startedAt: WallClock.iso8601(micros: WallClock.nowMicros()))
        try state.write(to: home.daemonStatePath)
        logger.info("daemon listening", [
            "pid": .int(Int64(state.pid)), "host": .string(state.host), "port": .int(Int64(state.port)),
            "event_loops": .int(Int64(settings.eventLoops)), "durability": .string(settings.durability.rawValue),
            "upstream_client": .string(settings.upstreamClient.rawValue), "agents": .int(Int64(registry.all().count)),
        ])

        while true {
            let signal = aex_wait_signal()
            if signal == SIGHUP {
                _ = configuration.reload(source: "SIGHUP")
                continue
            }
            logger.info("stopping", ["signal": .int(Int64(signal)), "open_connections": .int(Int64(server.openConnections))])
            break
        }
        gateway.closeStreams()
        server.stop()
        server.waitUntilStopped()
        runs.stopWatching()
        writer.stop()
        unlink(home.daemonStatePath)
        logger.info("daemon stopped")
    }
}

/// Holds the HTTP server once it exists (it is built after the gateway that reports on it).
final class ServerBox: Sendable {
    private let slot = Mutex<HTTPServer?>(nil)
    var server: HTTPServer? { slot.withLock { $0 } }
    func store(_ server: HTTPServer) { slot.withLock { $0 = server } }
}
