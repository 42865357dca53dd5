import Testing
@testable import AEXHost

@Suite struct ArgumentScannerTests {
    let create = AgentCLI.create

    @Test func positionalsAndOptionsInAnyOrder() throws {
        let parsed = try ArgumentScanner.scan(["--tpm", "100", "bot", "2.01", "--models=a,b", "60", "--no-streaming"], spec: create)
        #expect(parsed.positionals == ["bot", "2.01", "60"])
        #expect(parsed.value("--tpm") == "100")
        #expect(parsed.value("--models") == "a,b")
        #expect(parsed.flag("--no-streaming"))
    }

    @Test func usageErrors() {
        #expect(throws: UsageError("unknown option '--bogus'")) { try ArgumentScanner.scan(["a", "1", "2", "--bogus"], spec: create) }
        #expect(throws: UsageError("missing RPM")) { try ArgumentScanner.scan(["a", "1"], spec: create) }
        #expect(throws: UsageError("unexpected argument 'x'")) { try ArgumentScanner.scan(["a", "1", "2", "x"], spec: create) }
        #expect(throws: UsageError("option '--tpm' needs a value (N)")) { try ArgumentScanner.scan(["a", "1", "2", "--tpm"], spec: create) }
        #expect(throws: UsageError("option '--tpm' given more than once")) {
            try ArgumentScanner.scan(["a", "1", "2", "--tpm", "1", "--tpm", "2"], spec: create)
        }
        #expect(throws: UsageError("option '--json' takes no value")) { try ArgumentScanner.scan(["a", "1", "2", "--json=yes"], spec: create) }
    }

    @Test func negativeNumbersArePositionalsSoMoneyParsingReportsThem() throws {
        let parsed = try ArgumentScanner.scan(["bot", "-5", "60"], spec: create)
        #expect(parsed.positionals == ["bot", "-5", "60"])
        #expect(throws: UsageError("USD '-5': amounts of money cannot be negative")) { try ValueParsers.money("-5", "USD") }
    }

    @Test func helpAnywhere() throws {
        #expect(try ArgumentScanner.scan(["--help"], spec: create).helpRequested)
        #expect(try ArgumentScanner.scan(["bot", "-h"], spec: create).helpRequested)
    }

    @Test func trailingCommandStopsAtTheFirstPositionalCommand() throws {
        let run = CommandSpec(["run"], summary: "run", options: [.value("--agent", "NAME", ""), .flag("--kill-on-exhaust", "")],
                              takesTrailingCommand: true)
        let plain = try ArgumentScanner.scan(["--agent", "bot", "python", "agent.py", "--agent", "x", "-v"], spec: run)
        #expect(plain.value("--agent") == "bot")
        #expect(plain.trailing == ["python", "agent.py", "--agent", "x", "-v"])
        let dashed = try ArgumentScanner.scan(["--agent", "bot", "--", "--weird-command", "--help"], spec: run)
        #expect(dashed.trailing == ["--weird-command", "--help"])
        #expect(!dashed.helpRequested)
        #expect(throws: UsageError("missing the command to run")) { try ArgumentScanner.scan(["--agent", "bot"], spec: run) }
    }

    @Test func durationsAndIntegers() throws {
        #expect(try ValueParsers.durationSeconds("90s", "--ttl") == 90)
        #expect(try ValueParsers.durationSeconds("30m", "--ttl") == 1_800)
        #expect(try ValueParsers.durationSeconds("12h", "--ttl") == 43_200)
        #expect(try ValueParsers.durationSeconds("7d", "--ttl") == 604_800)
        for bad in ["", "5", "m", "-5m", "1.5h", "5w", "0s", "99999999999999999d"] {
            #expect(throws: UsageError.self) { try ValueParsers.durationSeconds(bad, "--ttl") }
        }
        #expect(try ValueParsers.integer("60", "RPM") == 60)
        for bad in ["0", "-1", "+5", "1e3", "abc", "99999999999999999999"] {
            #expect(throws: UsageError.self) { try ValueParsers.integer(bad, "RPM") }
        }
    }

    @Test func agentSettingsFromOptions() throws {
        let update = AgentCLI.update
        let parsed = try ArgumentScanner.scan(
            ["bot", "--budget", "3.5", "--add-budget", "0.5", "--no-tools", "--all-models", "--ttl", "1h", "--no-tpm"], spec: update)
        let settings = try AgentCLI.settings(parsed)
        #expect(settings.budget == MicroUSD(3_500_000))
        #expect(settings.addBudget == MicroUSD(500_000))
        #expect(settings.tools == .some([]))
        #expect(settings.models == .some(nil))
        #expect(settings.ttlSeconds == .some(3_600))
        #expect(settings.tpm == .some(nil))
        #expect(throws: UsageError("--tools and --no-tools cannot be used together")) {
            try AgentCLI.settings(try ArgumentScanner.scan(["bot", "--tools", "a", "--no-tools"], spec: update))
        }
    }
}
