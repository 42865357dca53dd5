import Synchronization

/// The configuration in force: models, providers and provider keys, swapped whole on reload so a
/// request sees one consistent snapshot and a broken file never half-applies.
public final class ModelCatalog: Sendable {
    public struct Snapshot: Sendable {
        public var config: ModelsConfig
        public var keys: [String: String]
    }

    private let current: Mutex<Snapshot>
    private let home: AEXHome
    /// The provider types a configuration may name, asked at each read (plugins change them).
    private let providerTypes: @Sendable () -> Set<String>

    public init(home: AEXHome, providerTypes: @escaping @Sendable () -> Set<String>, environment: [String: String]) throws(YAMLError) {
        self.home = home
        self.providerTypes = providerTypes
        current = Mutex(try Self.read(home: home, providerTypes: providerTypes(), environment: environment))
    }

    public var snapshot: Snapshot { current.withLock { $0 } }

    /// Reads and validates the files; swaps only if everything is valid.
    public func reload(environment: [String: String]) throws(YAMLError) -> Snapshot {
        let fresh = try Self.read(home: home, providerTypes: providerTypes(), environment: environment)
        current.withLock { $0 = fresh }
        return fresh
    }

    static func read(home: AEXHome, providerTypes: Set<String>, environment: [String: String]) throws(YAMLError) -> Snapshot {
        let config = try ModelsConfig.load(path: home.modelsConfigPath, providerTypes: providerTypes)
        return Snapshot(config: config, keys: ProviderKeys.load(envFile: home.envFilePath, environment: environment))
    }
}
