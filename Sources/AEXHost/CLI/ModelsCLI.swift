import Foundation

/// `aex models list` and `aex models reload`.
enum ModelsCLI {
    static let list = CommandSpec(
        ["models", "list"], summary: "List the configured models (those of the running daemon, else those of models.yaml).",
        options: [.flag("--json", "machine-readable output")])
    static let reload = CommandSpec(
        ["models", "reload"], summary: "Reload models.yaml atomically: an invalid file keeps the old configuration and says why.")

    static let all = [list, reload]

    static func run(_ spec: CommandSpec, _ arguments: ParsedArguments, home: AEXHome) throws -> Int32 {
        guard home.isInitialized else { throw CommandFailure("\(home.root) is not initialized; run 'aex init' first") }
        let daemon = DaemonCLI.running(home)
        if spec.words[1] == "reload" {
            guard let daemon else {
                _ = try localConfig(home)
                do {
                    _ = try ToolsConfig.load(path: home.toolsConfigPath, toolNames: PluginRegistry.enabledToolNames(databasePath: home.databasePath))
                } catch {
                    throw CommandFailure("\(error)")
                }
                Console.out("\(home.modelsConfigPath) and \(home.toolsConfigPath) are valid; the daemon is not running, so they will be used at the next start")
                return 0
            }
            _ = try AdminClient(home: home, state: daemon).request("POST", "/admin/reload_config")
            Console.out("configuration reloaded")
            return 0
        }
        let models: [JSONValue]
        if let daemon {
            guard case .array(let items) = try AdminClient(home: home, state: daemon).json("GET", "/admin/models") else {
                throw CommandFailure("the daemon sent an unreadable model list")
            }
            models = items
        } else {
            models = ConfigurationAPI.listing(try localConfig(home))
        }
        if arguments.flag("--json") {
            Console.out(JSONValue.array(models).canonicalText)
            return 0
        }
        let rows = models.compactMap { value -> [String]? in
            guard case .object(let model) = value else { return nil }
            func text(_ key: String) -> String {
                switch model[key] {
                case .string(let s)?: return s
                case .int(let n)?: return String(n)
                case .bool(let b)?: return b ? "yes" : "no"
                default: return "-"
                }
            }
            func perMillion(_ key: String) -> String {
                guard case .int(let micro)? = model[key] else { return "-" }
                return MoneyFormat.usd(MicroUSD(micro))
            }
            return [text("name") + (text("default") == "yes" ? " *" : ""), text("provider"), text("provider_model"),
                    perMillion("input_micro_per_mtok"), perMillion("output_micro_per_mtok"), text("max_tokens"), text("tools"), text("vision")]
        }
        Console.out(Console.table(["MODEL", "PROVIDER", "PROVIDER_MODEL", "IN_USD/MTOK", "OUT_USD/MTOK", "MAX_TOKENS", "TOOLS", "VISION"], rows))
        return 0
    }

    private static func localConfig(_ home: AEXHome) throws -> ModelsConfig {
        let types = PluginRegistry.enabledProviderTypes(databasePath: home.databasePath)
        do {
            try ConfigurationAPI.requireRegularFiles(home)
            return try ModelsConfig.load(path: home.modelsConfigPath, providerTypes: types)
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}
