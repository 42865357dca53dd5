/// Plugin commands inside the running daemon: an enabled provider plugin is loaded (after its
/// SHA-256 is checked) and serves its types at once; a disabled or removed one stops serving
/// them; models in use are those of the configuration in force and of `models.yaml` on disk.
final class DaemonPluginActivation: PluginActivation {
    let plugins: ProviderPlugins
    let tools: ToolCatalog
    let toolRunner: ToolRunner
    let catalog: ModelCatalog
    let modelsConfigPath: String
    let logger: Logger?

    init(plugins: ProviderPlugins, tools: ToolCatalog, toolRunner: ToolRunner, catalog: ModelCatalog, modelsConfigPath: String,
         logger: Logger?) {
        self.plugins = plugins
        self.tools = tools
        self.toolRunner = toolRunner
        self.catalog = catalog
        self.modelsConfigPath = modelsConfigPath
        self.logger = logger
    }

    func activate(_ record: PluginRecord) throws(PluginLoadError) {
        do {
            if record.description.kind == .provider {
                plugins.activate(try PluginLoading.load(record))
            } else {
                try PluginLoading.verify(record)  // tool plugins run in workers, never in the daemon
                let replaced = tools.all.first { $0.pluginName == record.name && $0.pluginPath != record.path }
                tools.add(plugin: record.name, tools: record.description.tools, path: record.path, sha256: record.sha256)
                if let replaced { toolRunner.retire(pluginPath: replaced.pluginPath) }
            }
            logger?.info("plugin enabled", ["plugin": .string(record.name), "version": .string(record.description.version)])
        } catch {
            logger?.error("plugin refused", ["plugin": .string(record.name), "reason": .string(error.description)])
            throw error
        }
    }

    func deactivate(_ record: PluginRecord) {
        if record.description.kind == .provider {
            plugins.deactivate(types: record.description.provides)
        } else {
            tools.remove(plugin: record.name)
            toolRunner.retire(pluginPath: record.path)
        }
        logger?.info("plugin disabled", ["plugin": .string(record.name), "version": .string(record.description.version)])
    }

    func modelsUsing(providerTypes: Set<String>) -> [String] {
        let inForce = catalog.snapshot.config.aliases(usingProviderTypes: providerTypes)
        let onDisk = LocalPluginActivation.modelsUsing(providerTypes, configPath: modelsConfigPath)
        return Array(Set(inForce + onDisk)).sorted()
    }
}
