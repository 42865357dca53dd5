/// The pure checks of a tool call before its admission, in SPEC §9 order: token scope and
/// lifecycle, validity (a JSON object with `tool_name`, an `arguments` object, an optional
/// `execution_id`), the tool (known and enabled), its arguments against the tool's schema (the
/// 400 names the failing path), and the agent's `--tools` policy.
enum ToolCallPolicy {
    static let endpoint = "tools/execute"

    struct Plan: Sendable {
        var entry: ToolCatalog.Entry
        var arguments: JSONValue
        /// The client's `execution_id`: the call's idempotency key.
        var clientExecutionID: String?
        /// The body's canonical text, compared for a repeated `execution_id`.
        var canonicalBody: [UInt8]
    }

    /// The tool as configured now: `tools.yaml`'s price and timeout overrides applied; nil for a
    /// network tool while no host is allowed (it is off).
    static func effective(_ entry: ToolCatalog.Entry, _ config: ToolsConfig) -> ToolCatalog.Entry? {
        if entry.tool.network, config.allowedHosts.isEmpty { return nil }
        var effective = entry
        if let override = config.overrides[entry.tool.name] {
            if let price = override.priceMicro { effective.tool.priceMicro = price }
            if let timeout = override.timeoutMilliseconds { effective.tool.timeoutMilliseconds = timeout }
        }
        return effective
    }

    static func plan(body: [UInt8], agent: Agent, catalog: ToolCatalog, config: ToolsConfig) throws(CallRefusal) -> Plan {
        if agent.policy.readOnly { throw CallRefusal(403, "read_only_token", "this agent's token is read-only") }
        if agent.state == .paused { throw CallRefusal(423, "agent_paused", "agent '\(agent.name)' is paused") }
        // One pass over the body: the tape gives both the values and the canonical text.
        guard let tape = try? JSONTape.parse(body), case .object(let object) = tape.value(JSONTape.root) else {
            throw CallRefusal(400, "invalid_request", "the body must be a JSON object: {\"tool_name\", \"arguments\", \"execution_id\"?}")
        }
        guard case .string(let name)? = object["tool_name"], !name.isEmpty else {
            throw CallRefusal(400, "invalid_request", "'tool_name' must be a non-empty string")
        }
        let arguments = object["arguments"] ?? .object([:])
        guard case .object = arguments else { throw CallRefusal(400, "invalid_request", "'arguments' must be a JSON object") }
        var clientExecutionID: String?
        if let value = object["execution_id"], value != .null {
            guard case .string(let text) = value, let key = IdempotencyKey.validated([text]) else {
                throw CallRefusal(400, "invalid_request", "'execution_id' must be 1 to \(IdempotencyKey.bytesMax) printable ASCII characters")
            }
            clientExecutionID = key
        }
        guard let entry = catalog.entry(named: name).flatMap({ effective($0, config) }) else {
            throw CallRefusal(404, "tool_not_found", "no enabled tool named '\(name)'")
        }
        if let problem = JSONSchemaCheck.validate(arguments, against: entry.tool.parameters) {
            throw CallRefusal(400, "invalid_request", "invalid arguments for tool '\(name)': \(problem)")
        }
        guard allows(agent, name) else {
            throw CallRefusal(403, "policy_violation", "agent '\(agent.name)' may not use tool '\(name)'")
        }
        return Plan(entry: entry, arguments: arguments, clientExecutionID: clientExecutionID, canonicalBody: tape.canonicalText())
    }

    /// The agent's `--tools` list (nil: every tool; empty: none) allows `tool`.
    static func allows(_ agent: Agent, _ tool: String) -> Bool {
        guard let allowed = agent.policy.tools else { return true }
        return allowed.contains(tool)
    }
}
