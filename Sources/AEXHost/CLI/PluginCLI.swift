import Foundation

/// `aex plugin install|list|inspect|enable|disable|remove` (SPEC §3, §11). With the daemon running
/// every command goes through its admin API and takes effect at once; otherwise this process
/// takes the writer lock and changes the registry itself (nothing is loaded here: libraries are
/// examined in a child process and their files checked against their SHA-256).
enum PluginCLI {
    static let json = CommandSpec.Option.flag("--json", "machine-readable output")

    static let install = CommandSpec(
        ["plugin", "install"], positionals: ["PATH"],
        summary: "Install a plugin library: examined in a child process, copied into AEX_HOME/plugins, recorded (disabled unless --enable).",
        options: [.value("--sha256", "HEX", "refuse the library unless its SHA-256 is this"), .flag("--enable", "enable it at once"), json])
    static let list = CommandSpec(["plugin", "list"], summary: "List the plugins: bundled and installed, provider and tool.", options: [json])
    static let inspect = CommandSpec(
        ["plugin", "inspect"], positionals: ["NAME"],
        summary: "Show one plugin, its manifest, and whether its file still matches its recorded SHA-256.", options: [json])
    static let enable = CommandSpec(
        ["plugin", "enable"], positionals: ["NAME"], summary: "Enable a plugin (its file is checked against its SHA-256 first).", options: [json])
    static let disable = CommandSpec(
        ["plugin", "disable"], positionals: ["NAME"],
        summary: "Disable a plugin; refused for a provider plugin whose type models.yaml uses.", options: [json])
    static let remove = CommandSpec(
        ["plugin", "remove"], positionals: ["NAME"],
        summary: "Remove an installed plugin and its file; refused for bundled plugins and providers in use.", options: [json])

    static let all = [install, list, inspect, enable, disable, remove]

    static func run(_ spec: CommandSpec, _ arguments: ParsedArguments, home: AEXHome) throws -> Int32 {
        var sha: String?
        if let text = arguments.value("--sha256") {
            guard text.count == 64, Hex.decode(text) != nil else { throw UsageError("--sha256 must be 64 hexadecimal digits, got '\(text)'") }
            sha = text.lowercased()
        }
        let verb = spec.words[1]
        let name = arguments.positionals.first ?? ""
        let answer: JSONValue
        switch try WriterAccess.open(home) {
        case .daemon(let client):
            let (method, path, body) = route(verb, name: name, arguments: arguments, sha: sha)
            answer = try client.json(method, path, body)
        case .local(let lock):
            defer { lock.release() }
            answer = try local(verb, name: name, arguments: arguments, sha: sha, home: home)
        }
        print(answer, verb: verb, asJSON: arguments.flag("--json"))
        return 0
    }

    /// The admin API call of a command.
    private static func route(_ verb: String, name: String, arguments: ParsedArguments, sha: String?) -> (String, String, JSONValue?) {
        switch verb {
        case "install":
            var body: [String: JSONValue] = ["path": .string(absolute(name)), "enable": .bool(arguments.flag("--enable"))]
            if let sha { body["sha256"] = .string(sha) }
            return ("POST", "/admin/plugins", .object(body))
        case "list": return ("GET", "/admin/plugins", nil)
        case "inspect": return ("GET", "/admin/plugins/\(name)", nil)
        case "remove": return ("DELETE", "/admin/plugins/\(name)", nil)
        default: return ("POST", "/admin/plugins/\(name)/\(verb)", nil)
        }
    }

    /// The command run here, under the writer lock.
    private static func local(_ verb: String, name: String, arguments: ParsedArguments, sha: String?, home: AEXHome) throws -> JSONValue {
        try WriterAccess.withLocalWriter(home) { writer in try local(verb, name: name, arguments: arguments, sha: sha, home: home, writer: writer) }
    }

    private static func local(_ verb: String, name: String, arguments: ParsedArguments, sha: String?, home: AEXHome,
                              writer: StoreWriter) throws -> JSONValue {
        let registry = PluginRegistry(writer: writer, pluginsDirectory: home.pluginsDirectory, examiner: PluginExaminer(),
                                      activation: LocalPluginActivation(modelsConfigPath: home.modelsConfigPath))
        do {
            switch verb {
            case "install": return try registry.install(path: absolute(name), expectedSHA256: sha, enable: arguments.flag("--enable")).json
            case "list": return .array(try registry.list().map(\.json))
            case "inspect": return try registry.record(named: name).inspection
            case "enable": return try registry.enable(name: name).json
            case "disable": return try registry.disable(name: name).json
            default: return try registry.remove(name: name).json
            }
        } catch let refusal as PluginRefusal {
            throw CommandFailure(refusal.description)
        }
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    private static func print(_ answer: JSONValue, verb: String, asJSON: Bool) {
        if asJSON { return Console.out(answer.canonicalText) }
        func field(_ object: [String: JSONValue], _ key: String) -> String {
            switch object[key] {
            case .string(let text)?: return text
            case .bool(let flag)?: return flag ? "yes" : "no"
            case .array(let items)?: return items.compactMap { if case .string(let s) = $0 { s } else { nil } }.joined(separator: ",")
            default: return "-"
            }
        }
        switch (verb, answer) {
        case ("list", .array(let items)):
            let rows = items.compactMap { item -> [String]? in
                guard case .object(let o) = item else { return nil }
                return [field(o, "name"), field(o, "version"), field(o, "kind"), field(o, "abi"), field(o, "enabled"), field(o, "bundled"),
                        field(o, "provides")]
            }
            Console.out(Console.table(["NAME", "VERSION", "KIND", "ABI", "ENABLED", "BUNDLED", "PROVIDES"], rows))
        case ("inspect", .object(let o)):
            for key in ["name", "version", "kind", "abi", "provides", "enabled", "bundled", "path", "sha256", "file_matches", "installed_at"] {
                Console.out("\(key): \(field(o, key))")
            }
        case (_, .object(let o)):
            let past = ["install": "installed", "enable": "enabled", "disable": "disabled", "remove": "removed"][verb] ?? verb
            var line = "plugin \(field(o, "name")) \(field(o, "version")) \(past)"
            if verb == "install" { line += " (\(field(o, "kind")), \(field(o, "enabled") == "yes" ? "enabled" : "disabled")) at \(field(o, "path"))" }
            Console.out(line)
        default:
            Console.out(answer.canonicalText)
        }
    }
}
