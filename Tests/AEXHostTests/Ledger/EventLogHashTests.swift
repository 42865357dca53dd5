import Testing
@testable import AEXHost

@Suite struct EventLogHashTests {
    /// The spliced record must be byte-identical to the canonical JSON of the whole record.
    @Test(arguments: [
        (Int64?.some(7), String?.some("bot"), String?.some("exec_1")),
        (nil, nil, nil),
        (Int64?.some(1), String?.some("quote\"back\\slash\nnew\u{1}line é"), String?.none),
    ])
    func splicedRecordMatchesTheCanonicalObject(agentID: Int64?, agentName: String?, executionID: String?) {
        let payload = JSONValue.object([
            "z": .int(-3), "a": .string("tab\there"), "list": .array([.null, .bool(true), .number("1.5")]), "é": .string("x"),
        ])
        let record = JSONValue.object([
            "agent_id": .optional(agentID), "agent_name": .optional(agentName), "execution_id": .optional(executionID),
            "payload": payload, "prev_hash": .string(EventLog.genesisHash), "seq": .int(42), "ts_micros": .int(1_700_000_000_123_456),
            "type": .string("commit"),
        ])
        let expected = SHA256.hex(record.canonicalText)
        let spliced = EventLog.entryHash(
            seq: 42, tsMicros: 1_700_000_000_123_456, type: "commit", agentID: agentID, agentName: agentName,
            executionID: executionID, payload: payload, previousHash: EventLog.genesisHash)
        #expect(spliced == expected)
    }

    @Test func canonicalTextMatchesPythonsSortKeysForm() {
        let value = JSONValue.object(["b": .int(1), "a": .array([.string("x\"y"), .string("\u{8}\u{c}\n\r\t\u{1f}")]), "B": .null])
        #expect(value.canonicalText == #"{"B":null,"a":["x\"y","\b\f\n\r\t\u001f"],"b":1}"#)
    }
}

@Suite struct EventLogChainTests {
    /// An operation that appended and then failed leaves no entry, and the next entry links to the
    /// real head (the cached head is dropped on rollback).
    @Test func aRolledBackAppendLeavesTheChainIntact() throws {
        let dir = TemporaryDirectory()
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        defer { writer.stop() }
        let event = LedgerEvent(type: .configReload, agentID: nil, agentName: nil, payload: .object([:]))
        _ = try writer.perform { db in try EventLog.append(event, to: db, nowMicros: 1) }
        #expect(throws: (any Error).self) {
            try writer.perform { db -> Int in
                try EventLog.append(event, to: db, nowMicros: 2)
                throw StoreError.writerStopped
            }
        }
        let third = try writer.perform { db in try EventLog.append(event, to: db, nowMicros: 3) }
        let rows = try writer.perform { db in
            try db.query("SELECT seq, ts_micros, hash FROM event_log ORDER BY seq") { ($0.int64(0), $0.int64(1), Hex.encode($0.bytes(2))) }
        }
        #expect(rows.map(\.0) == [1, 2])
        let relinked = EventLog.entryHash(seq: 2, tsMicros: rows[1].1, type: "config_reload", agentID: nil, agentName: nil, executionID: nil,
                                          payload: .object([:]), previousHash: rows[0].2)
        #expect(rows[1].2 == relinked, "the entry after the rollback links to the surviving head")
        #expect(third.seq == 2)
    }
}
