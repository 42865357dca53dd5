/// `aex version` and `aex init`.
enum HomeCLI {
    static let version = CommandSpec(["version"], summary: "Print the version of aex.")
    static let initialize = CommandSpec(
        ["init"], summary: "Create AEX_HOME (default ~/.aex): folders, default config, database schema and admin token. Never overwrites.")

    static let all = [version, initialize]

    static func run(_ spec: CommandSpec, _ arguments: ParsedArguments, home: AEXHome) throws -> Int32 {
        if spec.words == ["version"] {
            Console.out("aex \(AEXVersion.current)")
            return 0
        }
        let outcome = try HomeInitializer.initialize(home)
        if outcome.created.isEmpty {
            Console.out("AEX home \(home.root) is ready; nothing was overwritten")
        } else {
            Console.out("initialized AEX home \(home.root)")
            for path in outcome.created { Console.out("  created \(path)") }
        }
        for failure in outcome.pluginFailures { Console.err("aex: warning: bundled \(failure)") }
        if outcome.created.contains(home.adminTokenPath) {
            Console.out("admin token written to \(home.adminTokenPath) (mode 0600)")
        }
        return 0
    }
}
