/// `aex agent …`: create, list, inspect, update, pause, resume, delete, rotate-token.
enum AgentCLI {
    static let policyOptions: [CommandSpec.Option] = [
        .value("--tpm", "N", "tokens per minute (default: no limit)"),
        .value("--models", "a,b", "allowed models (default: all)"),
        .value("--tools", "a,b", "allowed tools (default: all)"),
        .flag("--no-tools", "allow no tools"),
        .flag("--no-streaming", "refuse streamed calls"),
        .flag("--allow-vision", "allow image inputs"),
        .value("--max-tokens", "N", "per-request output token cap"),
        .value("--ttl", "D", "token lifetime: 90s, 30m, 12h, 7d (default: no expiry)"),
        .flag("--read-only", "token may only read (no executing endpoints)"),
        .flag("--allow-passthrough", "allow x-aex-provider-key passthrough"),
    ]
    static let json = CommandSpec.Option.flag("--json", "machine-readable output")

    static let create = CommandSpec(
        ["agent", "create"], positionals: ["NAME", "USD", "RPM"],
        summary: "Create an agent with a budget in US dollars and a requests-per-minute limit; prints its token once.",
        options: policyOptions + [json])
    static let list = CommandSpec(
        ["agent", "list"], summary: "List agents.",
        options: [.flag("--verbose", "show policy columns too"), json])
    static let inspect = CommandSpec(
        ["agent", "inspect"], positionals: ["NAME"], summary: "Show one agent (the token itself is never shown again).",
        options: [json])
    static let update = CommandSpec(
        ["agent", "update"], positionals: ["NAME"], summary: "Change an agent's budget, limits and capabilities in place.",
        options: [
            .value("--budget", "USD", "set the budget"),
            .value("--add-budget", "USD", "add to the budget"),
            .value("--rpm", "N", "requests per minute"),
        ] + policyOptions + [
            .flag("--no-tpm", "remove the tokens-per-minute limit"),
            .flag("--all-models", "allow every model"),
            .flag("--all-tools", "allow every tool"),
            .flag("--allow-streaming", "allow streamed calls again"),
            .flag("--no-vision", "refuse image inputs"),
            .flag("--no-max-tokens", "remove the per-request output cap"),
            .flag("--no-ttl", "tokens never expire"),
            .flag("--no-read-only", "allow executing endpoints again"),
            .flag("--no-passthrough", "refuse provider-key passthrough"),
            json,
        ])
    static let pause = CommandSpec(["agent", "pause"], positionals: ["NAME"], summary: "Pause an agent: its calls are refused until resumed.", options: [json])
    static let resume = CommandSpec(["agent", "resume"], positionals: ["NAME"], summary: "Resume a paused agent.", options: [json])
    static let delete = CommandSpec(
        ["agent", "delete"], positionals: ["NAME"],
        summary: "Delete an agent: its token stops working at once; its ledger history is kept.", options: [json])
    static let rotateToken = CommandSpec(
        ["agent", "rotate-token"], positionals: ["NAME"],
        summary: "Issue a new token (printed once); the old one stops working at once.",
        options: [.value("--ttl", "D", "lifetime of the new token (default: the agent's configured lifetime)"), .flag("--no-ttl", "the new token never expires"), json])

    static let all = [create, list, inspect, update, pause, resume, delete, rotateToken]

    /// Reads the policy and limit options shared by create and update.
    static func settings(_ arguments: ParsedArguments) throws(UsageError) -> AgentSettings {
        var settings = AgentSettings()
        func exclusive(_ a: String, _ b: String) throws(UsageError) {
            if (arguments.flag(a) || arguments.value(a) != nil) && (arguments.flag(b) || arguments.value(b) != nil) {
                throw UsageError("\(a) and \(b) cannot be used together")
            }
        }
        try exclusive("--tools", "--no-tools")
        try exclusive("--tools", "--all-tools")
        try exclusive("--no-tools", "--all-tools")
        try exclusive("--models", "--all-models")
        try exclusive("--tpm", "--no-tpm")
        try exclusive("--max-tokens", "--no-max-tokens")
        try exclusive("--ttl", "--no-ttl")
        try exclusive("--no-streaming", "--allow-streaming")
        try exclusive("--allow-vision", "--no-vision")
        try exclusive("--read-only", "--no-read-only")
        try exclusive("--allow-passthrough", "--no-passthrough")
        if let text = arguments.value("--budget") { settings.budget = try ValueParsers.money(text, "--budget") }
        if let text = arguments.value("--add-budget") { settings.addBudget = try ValueParsers.money(text, "--add-budget") }
        if let text = arguments.value("--rpm") { settings.rpm = try ValueParsers.integer(text, "--rpm") }
        if let text = arguments.value("--tpm") { settings.tpm = .some(try ValueParsers.integer(text, "--tpm")) }
        if arguments.flag("--no-tpm") { settings.tpm = .some(nil) }
        if let text = arguments.value("--models") { settings.models = .some(try ValueParsers.list(text, "--models")) }
        if arguments.flag("--all-models") { settings.models = .some(nil) }
        if let text = arguments.value("--tools") { settings.tools = .some(try ValueParsers.list(text, "--tools")) }
        if arguments.flag("--no-tools") { settings.tools = .some([]) }
        if arguments.flag("--all-tools") { settings.tools = .some(nil) }
        if arguments.flag("--no-streaming") { settings.streaming = false }
        if arguments.flag("--allow-streaming") { settings.streaming = true }
        if arguments.flag("--allow-vision") { settings.vision = true }
        if arguments.flag("--no-vision") { settings.vision = false }
        if let text = arguments.value("--max-tokens") { settings.maxTokens = .some(try ValueParsers.integer(text, "--max-tokens")) }
        if arguments.flag("--no-max-tokens") { settings.maxTokens = .some(nil) }
        if let text = arguments.value("--ttl") { settings.ttlSeconds = .some(try ValueParsers.durationSeconds(text, "--ttl")) }
        if arguments.flag("--no-ttl") { settings.ttlSeconds = .some(nil) }
        if arguments.flag("--read-only") { settings.readOnly = true }
        if arguments.flag("--no-read-only") { settings.readOnly = false }
        if arguments.flag("--allow-passthrough") { settings.passthrough = true }
        if arguments.flag("--no-passthrough") { settings.passthrough = false }
        do {
            try settings.validate()
        } catch {
            throw UsageError(error.description)
        }
        return settings
    }

    static func run(_ spec: CommandSpec, _ arguments: ParsedArguments, home: AEXHome) throws -> Int32 {
        let name = arguments.positionals.first ?? ""
        let command: AgentCommand
        switch spec.words[1] {
        case "create":
            var settings = try settings(arguments)
            settings.budget = try ValueParsers.money(arguments.positionals[1], "USD")
            settings.rpm = try ValueParsers.integer(arguments.positionals[2], "RPM")
            try validate(name, settings)
            command = .create(name: name, settings: settings)
        case "update":
            let settings = try settings(arguments)
            try validate(name, settings)
            guard settings != AgentSettings() else { throw UsageError("nothing to change: give at least one option") }
            command = .update(name: name, settings: settings)
        case "pause": command = .pause(name: name)
        case "resume": command = .resume(name: name)
        case "delete": command = .delete(name: name)
        case "rotate-token":
            if arguments.value("--ttl") != nil && arguments.flag("--no-ttl") {
                throw UsageError("--ttl and --no-ttl cannot be used together")
            }
            let ttl: Int64?? = try arguments.value("--ttl").map { text throws(UsageError) in .some(try ValueParsers.durationSeconds(text, "--ttl")) }
                ?? (arguments.flag("--no-ttl") ? .some(nil) : nil)
            command = .rotateToken(name: name, ttlSeconds: ttl)
        case "list":
            let agents = try AgentManagers.open(home).list()
            if arguments.flag("--json") {
                Console.out(JSONValue.array(agents.map(\.json)).canonicalText)
            } else if agents.isEmpty {
                Console.out("no agents")
            } else {
                Console.out(listTable(agents, verbose: arguments.flag("--verbose")))
            }
            return 0
        default:  // inspect
            let agent = try AgentManagers.open(home).inspect(name)
            Console.out(arguments.flag("--json") ? agent.json.canonicalText : details(agent))
            return 0
        }
        let manager = try AgentManagers.open(home)
        if case .update(_, let settings) = command, settings.budget == nil, let added = settings.addBudget {
            try checkAddedBudget(added, to: manager.inspect(name))
        }
        let result = try manager.execute(command)
        if arguments.flag("--json") {
            Console.out(result.json.canonicalText)
            return 0
        }
        switch command {
        case .create:
            Console.out("agent '\(name)' created: budget \(MicroUSD(result.budget_micro)) USD, \(result.rpm) rpm")
            Console.out("token (shown once, store it now): \(result.token ?? "")")
        case .rotateToken:
            Console.out("new token for '\(name)' (shown once; the old one no longer works): \(result.token ?? "")")
        case .update: Console.out("agent '\(name)' updated\n" + details(result))
        case .pause: Console.out("agent '\(name)' paused")
        case .resume: Console.out("agent '\(name)' resumed")
        case .delete: Console.out("agent '\(name)' deleted")
        }
        return 0
    }

    /// `--add-budget` past what an `Int64` of micro-USD holds is a usage error, told before the
    /// change is sent (the daemon or the database would refuse it as an invalid request too).
    static func checkAddedBudget(_ added: MicroUSD, to agent: AgentView) throws(UsageError) {
        do {
            _ = try AgentSettings.budget(MicroUSD(agent.budget_micro), adding: added)
        } catch {
            throw UsageError("--add-budget: \(error)")
        }
    }

    private static func validate(_ name: String, _ settings: AgentSettings) throws(UsageError) {
        do {
            try AgentName.validate(name)
            try settings.validate()
        } catch {
            throw UsageError(error.description)
        }
    }

    static func listTable(_ agents: [AgentView], verbose: Bool) -> String {
        var header = ["NAME", "STATE", "BUDGET", "SPENT", "RESERVED", "REMAINING", "RPM", "TPM"]
        if verbose { header += ["MODELS", "TOOLS", "STREAMING", "VISION", "MAX_TOKENS", "READ_ONLY", "EXPIRES", "CREATED"] }
        let rows = agents.map { agent -> [String] in
            var row = [
                agent.name, agent.state, usd(agent.budget_micro), usd(agent.spent_micro), usd(agent.reserved_micro),
                usd(agent.remaining_micro), String(agent.rpm), agent.tpm.map(String.init) ?? "-",
            ]
            if verbose {
                row += [
                    agent.models?.joined(separator: ",") ?? "all", agent.tools.map { $0.isEmpty ? "none" : $0.joined(separator: ",") } ?? "all",
                    yesNo(agent.streaming), yesNo(agent.vision), agent.max_tokens.map(String.init) ?? "-",
                    yesNo(agent.read_only), agent.token_expires_at ?? "never", agent.created_at,
                ]
            }
            return row
        }
        return Console.table(header, rows)
    }

    static func details(_ agent: AgentView) -> String {
        let rows: [(String, String)] = [
            ("name", agent.name), ("state", agent.state), ("token prefix", agent.token_prefix + "…"),
            ("budget", usd(agent.budget_micro) + " USD"), ("spent", usd(agent.spent_micro) + " USD"),
            ("reserved", usd(agent.reserved_micro) + " USD"), ("remaining", usd(agent.remaining_micro) + " USD"),
            ("rpm", String(agent.rpm)), ("tpm", agent.tpm.map(String.init) ?? "no limit"),
            ("models", agent.models?.joined(separator: ", ") ?? "all"),
            ("tools", agent.tools.map { $0.isEmpty ? "none" : $0.joined(separator: ", ") } ?? "all"),
            ("streaming", yesNo(agent.streaming)), ("vision", yesNo(agent.vision)),
            ("max tokens", agent.max_tokens.map(String.init) ?? "model limit"),
            ("passthrough", yesNo(agent.passthrough)), ("read only", yesNo(agent.read_only)),
            ("token expires", agent.token_expires_at ?? "never"), ("created", agent.created_at),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { "\(($0.0 + ":").padding(to: width + 1)) \($0.1)" }.joined(separator: "\n")
    }

    private static func usd(_ micro: Int64) -> String { MoneyFormat.usd(MicroUSD(micro)) }
    private static func yesNo(_ flag: Bool) -> String { flag ? "yes" : "no" }
}
