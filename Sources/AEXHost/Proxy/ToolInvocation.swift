/// One admitted tool call: the tool and the library that runs it, the arguments (checked against
/// the tool's schema), the id the client knows the call by, and where workers run.
struct ToolInvocation: Sendable {
    var entry: ToolCatalog.Entry
    var arguments: JSONValue
    /// The client's `execution_id` when it gave one, else the call's own.
    var answeredExecutionID: String
    var runner: ToolRunner
    /// For a network tool: the hosts `tools.yaml` allows (passed in the call's context).
    var allowedHosts: [String] = []

    /// The answer's body (SPEC §11): `{"execution_id", "tool_name", "result", "cost_micro"}`.
    func answerBody(result: JSONValue, cost: MicroUSD) -> [UInt8] {
        Array(JSONValue.object([
            "execution_id": .string(answeredExecutionID), "tool_name": .string(entry.tool.name), "result": result,
            "cost_micro": .int(cost.value),
        ]).canonicalText.utf8)
    }
}
