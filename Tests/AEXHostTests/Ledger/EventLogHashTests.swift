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
