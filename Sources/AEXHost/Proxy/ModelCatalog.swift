import Synchronization

/// The configuration in force: models, providers and provider keys, swapped whole on reload so a
/// request sees one consistent snapshot and a broken file never half-applies.
public final class ModelCatalog: Sendable {
    public struct Snapshot: Sendable {
        public var config: ModelsConfig
        public var keys: [String: String]
        /// `tools.yaml`: `http_get`'s hosts and tool price and timeout overrides.
        public var tools = ToolsConfig()
    }

    private let current: Mutex<Snapshot>
    private let home: AEXHome
    /// The provider types a configuration may name, asked at each read (plugins change them).
    private let providerTypes: @Sendable () -> Set<String>
    /// The tools a `tools.yaml` override may name.
    private let toolNames: @Sendable () -> Set<String>

    public init(home: AEXHome, providerTypes: @escaping @Sendable () -> Set<String>,
                toolNames: @escaping @Sendable () -> Set<String> = { [] }, environment: [String: String]) throws(YAMLError) {
        self.home = home
        self.providerTypes = providerTypes
        self.toolNames = toolNames
        current = Mutex(try Self.read(home: home, providerTypes: providerTypes(), toolNames: toolNames(), environment: environment))
    }

    public var snapshot: Snapshot { current.withLock { $0 } }

    /// Reads and validates the files; swaps only if everything is valid.
    public func reload(environment: [String: String]) throws(YAMLError) -> Snapshot {
        let fresh = try Self.read(home: home, providerTypes: providerTypes(), toolNames: toolNames(), environment: environment)
        current.withLock { $0 = fresh }
        return fresh
    }

    static func read(home: AEXHome, providerTypes: Set<String>, toolNames: Set<String>, environment: [String: String]) throws(YAMLError) -> Snapshot {
        let config = try ModelsConfig.load(path: home.modelsConfigPath, providerTypes: providerTypes)
        let tools = try ToolsConfig.load(path: home.toolsConfigPath, toolNames: toolNames)
        return Snapshot(config: config, keys: ProviderKeys.load(envFile: home.envFilePath, environment: environment), tools: tools)
    }
}
