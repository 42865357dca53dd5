import Testing
@testable import AEXHost

@Suite struct JSONRPCTests {
    func classify(_ text: String) -> JSONRPC.Message { JSONRPC.classify(try! JSONReader.parse(Array(text.utf8))) }

    @Test func classifiesEveryKindOfMessage() {
        #expect(classify(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#) == .request(id: .int(1), method: "ping", params: nil))
        #expect(classify(#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x"}}"#)
            == .request(id: .string("a"), method: "tools/call", params: .object(["name": .string("x")])))
        #expect(classify(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#) == .notification(method: "notifications/initialized"))
        #expect(classify(#"{"jsonrpc":"2.0","id":3,"result":{}}"#) == .response)
        #expect(classify(#"{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"x"}}"#) == .response)
    }

    @Test func invalidMessagesKeepAnAnswerableID() {
        for (text, id) in [(#"{"id":1,"method":"ping"}"#, JSONValue.int(1)), (#"{"jsonrpc":"2.0","id":"k","method":5}"#, .string("k")),
                           (#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, .null), (#"{"jsonrpc":"2.0","id":2,"method":"p","params":3}"#, .int(2)),
                           (#"{"jsonrpc":"2.0","id":2}"#, .int(2)), ("[]", .null), (#""x""#, .null), (#"{"jsonrpc":"2.0","result":1}"#, .null)] {
            guard case .invalid(let found, let reason) = classify(text) else { Issue.record("\(text) was accepted"); continue }
            #expect(found == id, "\(text)")
            #expect(!reason.isEmpty)
        }
    }
}

@Suite struct MCPSessionsTests {
    @Test func sessionsBelongToOneAgentExpireAndAreBounded() {
        let sessions = MCPSessions()
        let first = sessions.open(agentID: 1, protocolVersion: "2025-11-25", nowMillis: 0)
        #expect(first.id.count == MCPSessions.idCharacters)
        #expect(sessions.use(id: first.id, agentID: 2, nowMillis: 1) == nil, "another agent's session")
        #expect(sessions.use(id: first.id, agentID: 1, nowMillis: 1)?.protocolVersion == "2025-11-25")
        let idle = MCPSessions.idleSeconds * 1_000
        #expect(sessions.use(id: first.id, agentID: 1, nowMillis: 1 + idle - 1) != nil, "use keeps it alive")
        #expect(sessions.use(id: first.id, agentID: 1, nowMillis: 1 + 2 * idle) == nil, "idle too long")
        var opened: [MCPSessions.Session] = []
        for i in 0..<(MCPSessions.perAgentMax + 5) {
            opened.append(sessions.open(agentID: 7, protocolVersion: "2025-06-18", nowMillis: Int64(10 + i)))
        }
        #expect(sessions.count == MCPSessions.perAgentMax)
        #expect(sessions.use(id: opened[0].id, agentID: 7, nowMillis: 100) == nil, "the least recently used went first")
        #expect(sessions.use(id: opened.last!.id, agentID: 7, nowMillis: 100) != nil)
        #expect(sessions.close(id: opened.last!.id, agentID: 8) == false)
        #expect(sessions.close(id: opened.last!.id, agentID: 7) == true)
        #expect(sessions.use(id: opened.last!.id, agentID: 7, nowMillis: 101) == nil)
    }
}

@Suite struct MCPServerRulesTests {
    @Test func onlyLoopbackOriginsAreAccepted() {
        for origin in ["http://localhost", "http://localhost:3000", "https://127.0.0.1:9000", "http://[::1]:80", "HTTP://LOCALHOST"] {
            #expect(MCPServer.isLoopbackOrigin(origin), "\(origin)")
        }
        for origin in ["https://evil.example", "http://localhost.evil.example", "http://127.0.0.1.nip.io", "null", "file://",
                       "http://localhost:", "http://localhost:80x", "http://[::1", "http://localhost@evil", "ws://localhost"] {
            #expect(!MCPServer.isLoopbackOrigin(origin), "\(origin)")
        }
    }

    @Test func toolAnswersBecomeResultsOrErrors() {
        let ok = HTTPResponse(status: 200, headers: [("x-aex-execution-id", "exec_1")],
                              body: Array(#"{"execution_id":"exec_1","tool_name":"calculator","result":{"result":"4"},"cost_micro":10}"#.utf8))
        #expect(MCPToolAnswer.message(id: .int(1), from: ok) == JSONRPC.result(id: .int(1), .object([
            "content": .array([.object(["type": .string("text"), "text": .string(#"{"result":"4"}"#)])]),
            "structuredContent": .object(["result": .string("4")]), "isError": .bool(false),
            "_meta": .object(["aex/cost_micro": .int(10), "aex/execution_id": .string("exec_1")]),
        ])))
        let failed = HTTPResponse.error(502, code: "tool_failed", message: "tool 'x' failed: boom", headers: [("x-aex-execution-id", "exec_2")])
        #expect(MCPToolAnswer.message(id: .int(2), from: failed) == JSONRPC.result(id: .int(2), .object([
            "content": .array([.object(["type": .string("text"), "text": .string("tool 'x' failed: boom")])]),
            "isError": .bool(true), "_meta": .object(["aex/execution_id": .string("exec_2")]),
        ])))
        for (status, code, rpc) in [(402, "budget_exceeded", JSONRPC.refused), (403, "policy_violation", JSONRPC.refused),
                                    (404, "tool_not_found", JSONRPC.invalidParams), (400, "invalid_request", JSONRPC.invalidParams),
                                    (500, "ledger_unavailable", JSONRPC.internalError), (503, "overloaded", JSONRPC.refused)] {
            let answer = MCPToolAnswer.message(id: .string("q"), from: .error(status, code: code, message: "why"))
            #expect(answer == JSONRPC.error(id: .string("q"), code: rpc, message: "\(code): why",
                                            data: .object(["status": .int(Int64(status)), "code": .string(code)])))
        }
    }
}
