/// The admin API's wire form of `AgentSettings`: a JSON object whose absent keys mean "unchanged"
/// and whose `null` values mean "remove" (no limit, everything allowed, no expiry).
extension AgentSettings {
    public var json: JSONValue {
        var object: [String: JSONValue] = [:]
        if let budget { object["budget_micro"] = .int(budget.value) }
        if let addBudget { object["add_budget_micro"] = .int(addBudget.value) }
        if let rpm { object["rpm"] = .int(rpm) }
        if let tpm { object["tpm"] = .optional(tpm) }
        if let models { object["models"] = .optional(models) }
        if let tools { object["tools"] = .optional(tools) }
        if let streaming { object["streaming"] = .bool(streaming) }
        if let vision { object["vision"] = .bool(vision) }
        if let maxTokens { object["max_tokens"] = .optional(maxTokens) }
        if let passthrough { object["passthrough"] = .bool(passthrough) }
        if let readOnly { object["read_only"] = .bool(readOnly) }
        if let ttlSeconds { object["ttl_seconds"] = .optional(ttlSeconds) }
        return .object(object)
    }

    public init(json object: [String: JSONValue]) throws(ManagementError) {
        self.init()
        let known: Set<String> = [
            "name", "budget_micro", "add_budget_micro", "rpm", "tpm", "models", "tools", "streaming", "vision",
            "max_tokens", "passthrough", "read_only", "ttl_seconds",
        ]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalid("unknown field '\(unknown)'")
        }
        budget = try Self.integer(object, "budget_micro", nullable: false).map { MicroUSD($0 ?? 0) }
        addBudget = try Self.integer(object, "add_budget_micro", nullable: false).map { MicroUSD($0 ?? 0) }
        rpm = try Self.integer(object, "rpm", nullable: false).map { $0 ?? 0 }
        tpm = try Self.integer(object, "tpm", nullable: true)
        models = try Self.list(object, "models")
        tools = try Self.list(object, "tools")
        streaming = try Self.flag(object, "streaming")
        vision = try Self.flag(object, "vision")
        maxTokens = try Self.integer(object, "max_tokens", nullable: true)
        passthrough = try Self.flag(object, "passthrough")
        readOnly = try Self.flag(object, "read_only")
        ttlSeconds = try Self.integer(object, "ttl_seconds", nullable: true)
    }

    private static func integer(_ object: [String: JSONValue], _ key: String, nullable: Bool) throws(ManagementError) -> Int64?? {
        switch object[key] {
        case nil: return nil
        case .null?:
            if nullable { return .some(nil) }
            throw .invalid("'\(key)' cannot be null")
        case .int(let value)?: return .some(value)
        default: throw .invalid("'\(key)' must be an integer")
        }
    }

    private static func flag(_ object: [String: JSONValue], _ key: String) throws(ManagementError) -> Bool? {
        switch object[key] {
        case nil: return nil
        case .bool(let value)?: return value
        default: throw .invalid("'\(key)' must be true or false")
        }
    }

    private static func list(_ object: [String: JSONValue], _ key: String) throws(ManagementError) -> [String]?? {
        switch object[key] {
        case nil: return nil
        case .null?: return .some(nil)
        case .array(let items)?:
            var names: [String] = []
            for item in items {
                guard case .string(let name) = item else { throw .invalid("'\(key)' must be a list of strings or null") }
                names.append(name)
            }
            return .some(names)
        default: throw .invalid("'\(key)' must be a list of strings or null")
        }
    }
}
