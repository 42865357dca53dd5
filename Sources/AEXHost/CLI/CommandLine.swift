import Glibc

/// The `aex` command line: finds the command by its words, checks the arguments against its spec,
/// runs it, and maps outcomes to exit codes (0 ok, 1 failed, 2 usage, 3 daemon not running).
public enum AEXCommandLine {
    typealias Runner = @Sendable (CommandSpec, ParsedArguments, AEXHome) throws -> Int32

    /// The umask `aex` was started with (its `main` then sets 077 for AEX_HOME's files); `aex run`
    /// gives it back to the command it runs. Set once, before any command runs.
    nonisolated(unsafe) public static var userUmask: mode_t = 0o022

    static let commands: [(CommandSpec, Runner)] = {
        var all: [(CommandSpec, Runner)] = HomeCLI.all.map { ($0, HomeCLI.run) }
        all += DaemonCLI.all.map { ($0, DaemonCLI.run) }
        all += AgentCLI.all.map { ($0, AgentCLI.run) }
        all += ModelsCLI.all.map { ($0, ModelsCLI.run) }
        all += PluginCLI.all.map { ($0, PluginCLI.run) }
        all += LedgerCLI.all.map { ($0, LedgerCLI.run) }
        all += RunCLI.all.map { ($0, RunCLI.run) }
        all += MetricsCLI.all.map { ($0, MetricsCLI.run) }
        all += DoctorCLI.all.map { ($0, DoctorCLI.run) }
        return all
    }()

    public static func run(_ arguments: [String], home: AEXHome = .resolve()) -> Int32 {
        if arguments.isEmpty || arguments == ["--help"] || arguments == ["-h"] || arguments == ["help"] {
            Console.out(overview)
            return arguments.isEmpty ? 2 : 0
        }
        if arguments == ["--version"] { return run(["version"], home: home) }
        if arguments.first == PluginExaminer.childCommand { return PluginExaminer.runChild(arguments) }
        if arguments.first == ToolWorkerMain.command { return ToolWorkerMain.run(arguments) }
        let matches = commands.filter { arguments.starts(with: $0.0.words) }
        guard let (spec, runner) = matches.max(by: { $0.0.words.count < $1.0.words.count }) else {
            return groupHelpOrError(arguments)
        }
        do {
            let parsed = try ArgumentScanner.scan(Array(arguments.dropFirst(spec.words.count)), spec: spec)
            if parsed.helpRequested {
                Console.out(spec.help)
                return 0
            }
            return try runner(spec, parsed, home)
        } catch let error as UsageError {
            Console.err("aex: \(error.reason)\n\(spec.usageLine)\nrun 'aex \(spec.words.joined(separator: " ")) --help' for details")
            return 2
        } catch let failure as CommandFailure {
            Console.err("aex: \(failure.message)")
            return failure.exitCode
        } catch {
            Console.err("aex: \(error)")
            return 1
        }
    }

    /// `aex agent` alone or `aex agent --help` lists the group; anything else unknown is a usage error.
    private static func groupHelpOrError(_ arguments: [String]) -> Int32 {
        let group = commands.filter { $0.0.words.first == arguments[0] && $0.0.words.count > 1 }
        if !group.isEmpty, arguments.count == 1 || arguments[1] == "--help" || arguments[1] == "-h" {
            Console.out("usage: aex \(arguments[0]) COMMAND\n\ncommands:\n" + summaryLines(group.map(\.0)))
            return arguments.count == 1 ? 2 : 0
        }
        Console.err("aex: unknown command '\(arguments.prefix(group.isEmpty ? 1 : 2).joined(separator: " "))'\nrun 'aex --help' for the list of commands")
        return 2
    }

    static var overview: String {
        "usage: aex COMMAND [ARGS...]\n\nAEX, the AI Execution Kernel: governs AI agents' calls to LLM providers.\n\ncommands:\n"
            + summaryLines(commands.map(\.0)) + "\nrun 'aex COMMAND --help' for a command's options. AEX_HOME (default ~/.aex) selects the installation."
    }

    private static func summaryLines(_ specs: [CommandSpec]) -> String {
        let names = specs.map { ($0.words + $0.positionals).joined(separator: " ") }
        let width = names.map(\.count).max() ?? 0
        return zip(names, specs).map { "  \($0.padding(to: width))  \($1.summary)\n" }.joined()
    }
}
