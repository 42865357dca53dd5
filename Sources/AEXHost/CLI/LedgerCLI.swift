/// `aex ledger verify | head | show`: read the database directly (a read-only connection), so they
/// work whether or not the daemon runs, and never wait for it.
enum LedgerCLI {
    static let verify = CommandSpec(
        ["ledger", "verify"], summary: "Recompute the hash chain and replay every agent's balance; exit 1 naming the first bad entry or agent.",
        options: [
            .flag("--json", "machine-readable output"),
            .value("--expect-head", "SEQ:HASH", "also require this entry (as printed by 'aex ledger head'): detects a truncated tail"),
        ])
    static let head = CommandSpec(
        ["ledger", "head"], summary: "Print the last sequence number and hash, for anchoring outside AEX.",
        options: [.flag("--json", "machine-readable output")])
    static let show = CommandSpec(
        ["ledger", "show"], summary: "List ledger events, oldest first (the latest ones when limited).",
        options: [
            .value("--agent", "NAME", "only this agent's events"),
            .value("--execution", "ID", "only this execution's events"),
            .value("--limit", "N", "at most N events, the latest (default 50)"),
            .flag("--json", "machine-readable output"),
        ])

    static let all = [verify, head, show]
    static let showLimitDefault: Int64 = 50

    static func run(_ spec: CommandSpec, _ arguments: ParsedArguments, home: AEXHome) throws -> Int32 {
        guard home.isInitialized else { throw CommandFailure("\(home.root) is not initialized; run 'aex init' first") }
        let db: SQLiteDatabase
        do {
            db = try SQLiteDatabase(path: home.databasePath, readOnly: true)
        } catch {
            throw CommandFailure("cannot open \(home.databasePath): \(error)")
        }
        switch spec.words[1] {
        case "verify": return try runVerify(db, arguments)
        case "head": return try runHead(db, arguments)
        default: return try runShow(db, arguments)
        }
    }

    private static func runVerify(_ db: SQLiteDatabase, _ arguments: ParsedArguments) throws -> Int32 {
        var expected: EventLog.Head?
        if let text = arguments.value("--expect-head") {
            guard let head = LedgerVerifier.parseHead(text) else {
                throw UsageError("--expect-head takes SEQ:HASH (a sequence number, a colon and 64 lower-case hex digits)")
            }
            expected = head
        }
        let report = try LedgerVerifier.verify(db, expectHead: expected)
        if arguments.flag("--json") {
            Console.out(report.json.canonicalText)
        } else if report.ok {
            Console.out("ledger verified: \(report.events) events, head \(report.head.seq) \(report.head.hash); every agent's balance matches the replay")
        } else {
            Console.err(report.problems.map { "ledger: \($0)" }.joined(separator: "\n"))
        }
        return report.ok ? 0 : 1
    }

    private static func runHead(_ db: SQLiteDatabase, _ arguments: ParsedArguments) throws -> Int32 {
        let head = try LedgerEntries.head(db)
        if arguments.flag("--json") {
            Console.out(JSONValue.object(["seq": .int(head.seq), "hash": .string(head.hash)]).canonicalText)
        } else {
            Console.out("\(head.seq):\(head.hash)")
        }
        return 0
    }

    private static func runShow(_ db: SQLiteDatabase, _ arguments: ParsedArguments) throws -> Int32 {
        var limit = showLimitDefault
        if let text = arguments.value("--limit") {
            guard let parsed = Int64(text), parsed > 0 else { throw UsageError("--limit takes a positive whole number") }
            limit = parsed
        }
        let rows = try LedgerEntries.latest(db, agentName: arguments.value("--agent"), executionID: arguments.value("--execution"), limit: limit)
        if arguments.flag("--json") {
            Console.out(JSONValue.array(rows.map { row in
                .object([
                    "seq": .int(row.seq), "ts_micros": .int(row.timestampMicros),
                    "time": .string(WallClock.iso8601(micros: row.timestampMicros, fractional: true)),
                    "type": .string(row.type), "agent_id": .optional(row.agentID), "agent_name": .optional(row.agentName),
                    "execution_id": .optional(row.executionID),
                    "payload": (try? JSONReader.parse(Array(row.payload.utf8))) ?? .string(row.payload), "hash": .string(row.hash),
                ])
            }).canonicalText)
            return 0
        }
        Console.out(Console.table(
            ["SEQ", "TIME", "TYPE", "AGENT", "EXECUTION", "PAYLOAD"],
            rows.map { [String($0.seq), WallClock.iso8601(micros: $0.timestampMicros, fractional: true), $0.type, $0.agentName ?? "-",
                        $0.executionID ?? "-", $0.payload] }))
        return 0
    }
}
