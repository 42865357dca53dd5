import Foundation

/// Everything an operator sets through the environment (SPEC section 13; the README's "Settings"),
/// read once, at start, by the composition root (`DaemonRunner`), which passes each part down as a
/// view built from it: `httpServerLimits` to the HTTP server, `proxySettings` to the proxy,
/// `durability` to the store writer, `eventLoops` to the server, `idempotentAnswerLimits` to the
/// stored answers of `Idempotency-Key` calls, `runKillGraceSeconds` to run supervision.
///
/// `read(_:)` is the table: one row per setting with its name in code (unit last), its environment
/// variable, its default and its validation. A value that fails validation stops the daemon before
/// it serves, with `NAME must be <requirement>, got '<text>'`; the first such row is reported.
///
/// Fixed limits (not settings; each is named with its unit and lives beside the code it bounds):
/// - HTTP: `HTTPParserLimits.headerCountMax` (128 fields), `HTTPRequestParser.chunkSizeLineBytesMax`
///   (4 KiB), `.compactionBytesMin` (4 KiB), `.retainedCapacityBytesMax` (64 KiB);
///   `HTTPServerLimits.listenBacklogConnections` (4,096); `HTTPLoopServer.readBufferBytes` (64 KiB),
///   `.acceptsPerWakeMax` (8), `.handOffMarginConnections` (2); `HTTPConnection.streamBufferKeptBytesMax`
///   (16 KiB).
/// - Runtime: `EventLoop.tickMilliseconds` (250), `.eventsPerWaitMax` (256), `.threadStackBytes` (1 MiB).
/// - Providers: `Egress.idleEasyHandlesMax` (64), `.idleSweepMilliseconds` (250),
///   `.cachedConnectionsMax` (256), `.plainTargetsCachedMax` (64); `CurlHeaderList.cachedListsMax` (8);
///   `PlainHTTPClient.idleConnectionsMax` (256), `.receiveBytesMax` (64 KiB);
///   `UpstreamResponseParser.headBytesMax` (64 KiB), `.chunkSizeLineBytesMax` (1 KiB).
/// - Proxy: `GovernedCall.clientBufferHighWaterBytes` (256 KiB), `SSEScanner.eventBytesMax` (4 MiB),
///   `CallRequest.choicesMax` (128), `CallPlan.outputTokensMax` (2^40), `UsageCharge.toleranceTokensMin`
///   (1,024); `ProviderOutput.bodyBytesMax` (64 MiB) and `PluginHostTable.errorCharactersMax` (512)
///   in `Plugins/`.
/// - Ledger and store: `SettlementRetry.firstDelayMilliseconds` (250), `.delayMaxMilliseconds` (30,000);
///   `ExecutionLedger.denialReasonBytesMax` (256); `StoreWriter.batchOperationsMax` (1,024);
///   `SQLiteDatabase.cachedStatementsMax` (128), busy timeout 5,000 ms (`busyTimeoutMilliseconds`).
/// - Admission and agents: `RateWindow.windowMilliseconds` (60,000); `AuthRefusalSampler.rowsPerWindow`
///   (60 a minute), `.endpointBytesMax` (64); `AgentSettings.ratePerMinuteMax` (10^8), `.maxTokensMax`
///   (10^8), `.listNameBytesMax` (256); `AgentName.bytesMax` (64).
/// - Admin API: `LedgerAPI.verificationsWaitingMax` (4).
/// - Runs: `RunSupervisor.checkMilliseconds` (250); `RunRecords.idRandomLength` (16),
///   `.commandBytesMax` (4 KiB).
/// - Idempotency: `IdempotencyKey.bytesMax` (255); `IdempotentAnswerStore.sweepRowsMax` (1,000 rows
///   per purge operation); `CanonicalNumber.exponentDigitsMax` (15).
/// - Files: `ConfigFile.fileBytesMaxDefault` (4 MiB), `ModelsConfig.fileBytesMax` (4 MiB),
///   `YAMLSubsetParser.depthMax` (64), `ModelConfig.maxTokensRange` (1–10^7), `JSONReader.depthMax`
///   (64), `JSONTape.bytesMax` (2 GiB), `AEXHome.adminTokenFileBytesMax` (4 KiB),
///   `DaemonState.fileBytesMax` (64 KiB).
/// - Daemon and CLI: `DaemonRunner.writerLockWaitMilliseconds` (10,000); `DaemonCLI.startWaitMilliseconds`
///   (15,000), `.stopWaitMilliseconds` (60,000); `AgentManagers.lockWaitMilliseconds` (10,000);
///   `DoctorCLI.healthTimeoutMilliseconds` (2,000);
///   `LoopbackHTTPClient.responseBytesMax` (64 MiB); `LedgerCLI.showLimitDefault` (50 events).
/// - Per provider, in `models.yaml` rather than the environment: `timeout_seconds`
///   (`ProviderConfig.defaultTimeoutSeconds` 60, `.timeoutSecondsRange` 1–3,600) and
///   `connect_timeout_seconds` (`.defaultConnectTimeoutSeconds` 10, `.connectTimeoutSecondsRange` 1–600).
public struct Settings: Sendable, Equatable {
    public var headerBytesMax: Int
    public var bodyBytesMax: Int
    public var headerReadTimeoutSeconds: Int
    /// The whole body must arrive within this time of the end of the head (408 otherwise), however
    /// short each pause in it (each pause is bounded by `headerReadTimeoutSeconds`).
    public var bodyReadTimeoutSeconds: Int
    public var idleKeepAliveSeconds: Int
    public var connectionsMax: Int
    public var drainTimeoutSeconds: Int
    public var durability: Durability
    public var eventLoops: Int
    public var upstreamInFlightMax: Int
    public var upstreamResponseBytesMax: Int
    public var upstreamClient: UpstreamClient
    public var idempotencyTTLSeconds: Int
    public var idempotencySweepSeconds: Int
    public var idempotencyStoreBytesMax: Int
    public var toolWorkersPerPlugin: Int
    public var toolWorkerMemoryBytesMax: Int
    public var toolWorkerCPUSeconds: Int
    /// `aex run`: how long a terminated run's process group has after SIGTERM before SIGKILL.
    public var runKillGraceSeconds: Int

    /// The table. Rows are read in this order.
    static func read(_ row: Reader) throws(ConfigurationError) -> Settings {
        try Settings(
            // name in code            environment variable               default              validation
            headerBytesMax:           row("AEX_HEADER_BYTES_MAX",            32 * 1024,           .positive),
            bodyBytesMax:             row("AEX_BODY_BYTES_MAX",              8 * 1024 * 1024,     .positive),
            headerReadTimeoutSeconds: row("AEX_HEADER_READ_TIMEOUT_SECONDS", 10,                  .positive),
            bodyReadTimeoutSeconds:   row("AEX_BODY_READ_TIMEOUT_SECONDS",   60,                  .positive),
            idleKeepAliveSeconds:     row("AEX_IDLE_KEEPALIVE_SECONDS",      60,                  .positive),
            connectionsMax:           row("AEX_CONNECTIONS_MAX",             4_096,               .positive),
            drainTimeoutSeconds:      row("AEX_DRAIN_TIMEOUT_SECONDS",       30,                  .positive),
            durability:               row("AEX_DURABILITY",                  Durability.full,     .oneOf),
            eventLoops:               row("AEX_EVENT_LOOPS",                 processorCount,      .within(1...64)),
            upstreamInFlightMax:      row("AEX_UPSTREAM_IN_FLIGHT_MAX",      1_024,               .positive),
            upstreamResponseBytesMax: row("AEX_UPSTREAM_RESPONSE_BYTES_MAX", 32 * 1024 * 1024,    .positive),
            upstreamClient:           row("AEX_UPSTREAM_CLIENT",             UpstreamClient.loop, .oneOf),
            idempotencyTTLSeconds:    row("AEX_IDEMPOTENCY_TTL_SECONDS",     86_400,              .positive),
            idempotencySweepSeconds:  row("AEX_IDEMPOTENCY_SWEEP_SECONDS",   60,                  .positive),
            idempotencyStoreBytesMax: row("AEX_IDEMPOTENCY_STORE_BYTES_MAX", 256 * 1024 * 1024,   .positive),
            toolWorkersPerPlugin:     row("AEX_TOOL_WORKERS_PER_PLUGIN",     4,                   .within(1...256)),
            toolWorkerMemoryBytesMax: row("AEX_TOOL_WORKER_MEMORY_BYTES_MAX", 256 * 1024 * 1024,  .positive),
            toolWorkerCPUSeconds:     row("AEX_TOOL_WORKER_CPU_SECONDS",     60,                  .positive),
            runKillGraceSeconds:      row("AEX_RUN_KILL_GRACE_SECONDS",      5,                   .within(1...3_600)))
    }

    /// The default of `eventLoops`: one loop per core.
    static var processorCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    // MARK: Views

    public var httpServerLimits: HTTPServerLimits {
        HTTPServerLimits(
            headerBytesMax: headerBytesMax, bodyBytesMax: bodyBytesMax, headerReadTimeoutSeconds: headerReadTimeoutSeconds,
            bodyReadTimeoutSeconds: bodyReadTimeoutSeconds, idleKeepAliveSeconds: idleKeepAliveSeconds,
            connectionsMax: connectionsMax, drainTimeoutSeconds: drainTimeoutSeconds)
    }

    public var idempotentAnswerLimits: IdempotentAnswerStore.Limits {
        IdempotentAnswerStore.Limits(ttlSeconds: idempotencyTTLSeconds, sweepSeconds: idempotencySweepSeconds, bytesMax: idempotencyStoreBytesMax)
    }

    public var toolWorkerLimits: ToolRunner.Limits {
        ToolRunner.Limits(workersPerPlugin: toolWorkersPerPlugin, memoryBytesMax: toolWorkerMemoryBytesMax, cpuSecondsMax: toolWorkerCPUSeconds)
    }

    public var proxySettings: ProxySettings {
        ProxySettings(upstreamInFlightMax: upstreamInFlightMax, upstreamResponseBytesMax: upstreamResponseBytesMax, upstreamClient: upstreamClient)
    }
}

extension Settings {
    /// Every setting at its default.
    public init() {
        let defaults = Reader(environment: [:])
        do { self = try Self.read(defaults) } catch { preconditionFailure("defaults are not validated: \(error)") }
    }

    /// The defaults, overridden by the variables set in `environment`; the first invalid value
    /// (in table order) is an error naming its variable.
    public static func from(environment: [String: String]) throws(ConfigurationError) -> Settings {
        try read(Reader(environment: environment))
    }

    /// Each row as the table states it: variable, default and requirement, in table order.
    public static var rows: [Row] {
        let reader = Reader(environment: [:])
        _ = try? read(reader)
        return reader.rows
    }

    /// One row of the table, as written there.
    public struct Row: Sendable, Equatable {
        public let variable: String
        public let defaultText: String
        public let requirement: String
    }

    /// How a row's text becomes a value, and what the error says it must be.
    struct Rule<Value> {
        let requirement: String
        let parse: (String) -> Value?
    }

    /// Reads the rows from one environment, and keeps them as written (`rows`).
    final class Reader {
        let environment: [String: String]
        private(set) var rows: [Row] = []

        init(environment: [String: String]) { self.environment = environment }

        func callAsFunction<Value>(_ variable: String, _ defaultValue: Value, _ rule: Rule<Value>) throws(ConfigurationError) -> Value {
            rows.append(Row(variable: variable, defaultText: "\(defaultValue)", requirement: rule.requirement))
            guard let text = environment[variable] else { return defaultValue }
            guard let value = rule.parse(text) else {
                throw ConfigurationError("\(variable) must be \(rule.requirement), got '\(text)'")
            }
            return value
        }
    }
}

extension Settings.Rule where Value == Int {
    static var positive: Settings.Rule<Int> {
        Settings.Rule<Int>(requirement: "a positive integer") { text in Int(text).flatMap { $0 > 0 ? $0 : nil } }
    }

    static func within(_ range: ClosedRange<Int>) -> Settings.Rule<Int> {
        Settings.Rule<Int>(requirement: "\(range.lowerBound)-\(range.upperBound)") { text in Int(text).flatMap { range.contains($0) ? $0 : nil } }
    }
}

extension Settings.Rule where Value: CaseIterable & RawRepresentable, Value.RawValue == String {
    /// One of the type's cases, by its raw value: `'full' or 'normal'`.
    static var oneOf: Settings.Rule<Value> {
        let names = Value.allCases.map { "'\($0.rawValue)'" }
        let requirement = names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
        return Settings.Rule<Value>(requirement: requirement) { Value(rawValue: $0) }
    }
}
