/// A governed tool call's HTTP answer (the one `/v1/tools/execute` gives) as the answer to MCP's
/// `tools/call`. Pure.
///
/// - 200: a `CallToolResult` — the tool's result as text content (its JSON text) and, when it is
///   an object, as `structuredContent`; `isError: false`.
/// - The tool ran and failed, or ran past its timeout (`tool_failed`, `tool_timeout`; nothing
///   charged): a result with `isError: true` and the reason as text, so the model can see it.
/// - Anything AEX refused before running the tool: a JSON-RPC error whose message is
///   "code: reason" — `invalidParams` for a bad call (unknown tool, arguments off the schema),
///   `internalError` when the ledger failed, `refused` otherwise (policy, paused agent, budget,
///   rate limit, overload). `data` has the HTTP status and code.
/// `_meta` (results) and `data` (errors) carry AEX's execution id and, on success, the cost.
enum MCPToolAnswer {
    static let executionIDMeta = "aex/execution_id"
    static let costMeta = "aex/cost_micro"
    static let toolFailureCodes: Set<String> = ["tool_failed", "tool_timeout"]

    static func message(id: JSONValue, from response: HTTPResponse) -> JSONValue {
        let executionID = response.headers.first { $0.name.lowercased() == "x-aex-execution-id" }?.value
        let body = try? JSONReader.parse(response.body)
        if (200..<300).contains(response.status), case .object(let answer)? = body {
            let result = answer["result"] ?? .null
            var meta: [String: JSONValue] = [costMeta: answer["cost_micro"] ?? .null]
            if case .string(let id)? = answer["execution_id"] { meta[executionIDMeta] = .string(id) }
            var members: [String: JSONValue] = [
                "content": .array([.object(["type": .string("text"), "text": .string(result.canonicalText)])]),
                "isError": .bool(false), "_meta": .object(meta),
            ]
            if case .object = result { members["structuredContent"] = result }
            return JSONRPC.result(id: id, .object(members))
        }
        var code = "upstream_error"
        var reason = "the call failed with status \(response.status)"
        if case .object(let answer)? = body, case .object(let error)? = answer["error"] {
            if case .string(let text)? = error["code"] { code = text }
            if case .string(let text)? = error["message"] { reason = text }
        }
        if toolFailureCodes.contains(code) {
            var meta: [String: JSONValue] = [:]
            if let executionID { meta[executionIDMeta] = .string(executionID) }
            return JSONRPC.result(id: id, .object([
                "content": .array([.object(["type": .string("text"), "text": .string(reason)])]),
                "isError": .bool(true), "_meta": .object(meta),
            ]))
        }
        let rpcCode = switch response.status {
        case 400, 404: JSONRPC.invalidParams
        case 500: JSONRPC.internalError
        default: JSONRPC.refused
        }
        var data: [String: JSONValue] = ["status": .int(Int64(response.status)), "code": .string(code)]
        if let executionID { data["execution_id"] = .string(executionID) }
        return JSONRPC.error(id: id, code: rpcCode, message: "\(code): \(reason)", data: .object(data))
    }
}
