/// `aex ledger verify` and `GET /admin/replay`: recomputes the hash chain of `event_log` and every
/// agent's spent and reserved from the events, and compares them with the `agents` counters — all
/// in one read transaction, so a running daemon's writes never show half-way.
///
/// Chain rule: entry `seq` must follow entry `seq − 1` and its stored hash must equal
/// `EventLog.entryHash` over its own fields and the previous entry's stored hash. After an edited
/// entry that one is reported; after a deleted entry, the next one (its link breaks); after two
/// swapped entries, the first of them. A truncated tail leaves a valid chain: anchor the head
/// outside AEX (`aex ledger head`) and pass it back as `expectHead`.
public enum LedgerVerifier {
    public struct AgentMismatch: Sendable, Equatable {
        public var agentID: Int64
        public var name: String
        public var database: LedgerReplay.Balance
        public var replayed: LedgerReplay.Balance
    }

    public struct Report: Sendable {
        public var events = 0
        public var head = EventLog.Head(seq: 0, hash: EventLog.genesisHash)
        public var firstBadSeq: Int64?
        /// Why `firstBadSeq` is bad, or what else failed (the expected head).
        public var problems: [String] = []
        public var mismatchedAgents: [AgentMismatch] = []

        public var ok: Bool { firstBadSeq == nil && problems.isEmpty && mismatchedAgents.isEmpty }

        /// SPEC §3's `ledger verify --json` fields, plus `problems` in words.
        public var json: JSONValue {
            .object([
                "ok": .bool(ok), "events": .int(Int64(events)), "first_bad_seq": .optional(firstBadSeq),
                "mismatched_agents": .array(mismatchedAgents.map { .string($0.name) }),
                "head": .object(["seq": .int(head.seq), "hash": .string(head.hash)]),
                "problems": .array(problems.map { .string($0) }),
            ])
        }
    }

    /// Verifies the database at `path` through its own read-only connection.
    public static func verify(databaseAt path: String, expectHead: EventLog.Head? = nil) throws -> Report {
        try verify(try SQLiteDatabase(path: path, readOnly: true), expectHead: expectHead)
    }

    public static func verify(_ db: SQLiteDatabase, expectHead: EventLog.Head? = nil) throws -> Report {
        try db.execute("BEGIN")
        defer { try? db.execute("COMMIT") }
        var report = Report()
        var replay = LedgerReplay()
        var previousHash = EventLog.genesisHash
        var expectedSeq: Int64 = 1
        var hashAtExpectedSeq: String?
        func bad(_ seq: Int64, _ reason: String) {
            guard report.firstBadSeq == nil else { return }
            report.firstBadSeq = seq
            report.problems.append("entry \(seq): \(reason)")
        }
        let rows = try db.prepare(
            "SELECT seq, ts_micros, type, agent_id, agent_name, execution_id, payload, hash FROM event_log ORDER BY seq")
        while try rows.step() {
            let seq = rows.int64(0)
            let type = rows.text(2)
            let agentID = rows.optionalInt64(3)
            let payload = rows.bytes(6)
            let stored = EventLog.storedHash(rows, 7)
            let recomputed = EventLog.entryHash(
                seq: seq, tsMicros: rows.int64(1), type: type, agentID: agentID, agentName: rows.optionalText(4),
                executionID: rows.optionalText(5), payloadText: payload, previousHash: previousHash)
            if seq != expectedSeq {
                bad(seq, "expected entry \(expectedSeq) here (an entry before it was deleted or the entries were reordered)")
            } else if recomputed != stored {
                bad(seq, "its hash does not match its contents and the entry before it (edited, reordered, or the entry before it was deleted)")
            }
            do {
                try replay.apply(type: type, agentID: agentID, payloadText: payload)
            } catch {
                bad(seq, error.reason)
            }
            if let expectHead, seq == expectHead.seq { hashAtExpectedSeq = stored }
            previousHash = stored
            expectedSeq = seq + 1
            report.events += 1
            report.head = EventLog.Head(seq: seq, hash: stored)
        }
        if let expectHead {
            if report.head.seq < expectHead.seq {
                report.problems.append(
                    "the ledger ends at entry \(report.head.seq) but the expected head is entry \(expectHead.seq): entries were removed from its end")
            } else if hashAtExpectedSeq != expectHead.hash {
                report.problems.append("entry \(expectHead.seq) does not carry the expected head hash: the ledger was rewritten")
            }
        }
        let agents = try db.query("SELECT id, name, spent_micro, reserved_micro FROM agents ORDER BY id") {
            ($0.int64(0), $0.text(1), LedgerReplay.Balance(spentMicro: $0.int64(2), reservedMicro: $0.int64(3)))
        }
        var known = Set<Int64>()
        for (id, name, database) in agents {
            known.insert(id)
            let replayed = replay.balances[id] ?? LedgerReplay.Balance()
            if replayed != database {
                report.mismatchedAgents.append(AgentMismatch(agentID: id, name: name, database: database, replayed: replayed))
            }
        }
        for (id, replayed) in replay.balances.sorted(by: { $0.key < $1.key }) where !known.contains(id) && replayed != LedgerReplay.Balance() {
            report.mismatchedAgents.append(AgentMismatch(agentID: id, name: "#\(id)", database: LedgerReplay.Balance(), replayed: replayed))
        }
        for mismatch in report.mismatchedAgents {
            report.problems.append(
                "agent '\(mismatch.name)': the database says spent \(mismatch.database.spentMicro), reserved \(mismatch.database.reservedMicro) "
                    + "micro-USD; the ledger's events say spent \(mismatch.replayed.spentMicro), reserved \(mismatch.replayed.reservedMicro)")
        }
        return report
    }

    /// `SEQ:HASH` as `aex ledger head` prints it.
    public static func parseHead(_ text: String) -> EventLog.Head? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let seq = Int64(parts[0]), seq >= 0, parts[1].count == 64,
              parts[1].utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        return EventLog.Head(seq: seq, hash: String(parts[1]))
    }
}
