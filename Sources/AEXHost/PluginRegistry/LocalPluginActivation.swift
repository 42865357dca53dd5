/// Plugin commands while no daemon runs (the CLI holds the writer lock): nothing is loaded here,
/// an enabled library's file is only checked against its SHA-256, and models are those of
/// `models.yaml`.
public struct LocalPluginActivation: PluginActivation {
    let modelsConfigPath: String

    public init(modelsConfigPath: String) { self.modelsConfigPath = modelsConfigPath }

    public func activate(_ record: PluginRecord) throws(PluginLoadError) { try PluginLoading.verify(record) }

    public func deactivate(_ record: PluginRecord) {}

    public func modelsUsing(providerTypes: Set<String>) -> [String] {
        Self.modelsUsing(providerTypes, configPath: modelsConfigPath)
    }

    /// The aliases in the file at `configPath` whose provider has one of `types` (none when the
    /// file is missing or unreadable).
    public static func modelsUsing(_ types: Set<String>, configPath: String) -> [String] {
        (try? ModelsConfig.load(path: configPath, providerTypes: nil))?.aliases(usingProviderTypes: types) ?? []
    }
}
