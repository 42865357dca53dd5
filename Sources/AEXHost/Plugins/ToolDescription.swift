/// One tool a tool plugin offers (ABI 1.2 `tools`): what agents see in `GET /v1/tools`, what
/// admission reserves (its price), and the limits its worker runs it under.
public struct ToolDescription: Sendable, Equatable {
    public var name: String
    public var description: String
    /// A JSON Schema (the subset of `JSONSchemaCheck`) of the arguments object.
    public var parameters: JSONValue
    public var priceMicro: Int64
    public var timeoutMilliseconds: Int
    public var outputBytesMax: Int
    public var network: Bool

    static let timeoutMillisecondsRange = 1...600_000
    static let outputBytesMaxRange = 1...(16 * 1024 * 1024)
    static let descriptionBytesMax = 4_096

    public var json: JSONValue {
        .object([
            "name": .string(name), "description": .string(description), "parameters": parameters, "price_micro": .int(priceMicro),
            "timeout_ms": .int(Int64(timeoutMilliseconds)), "output_bytes_max": .int(Int64(outputBytesMax)), "network": .bool(network),
        ])
    }

    /// Reads and checks one tool object; the error says what is wrong with it.
    public init(json value: JSONValue) throws(ConfigurationError) {
        guard case .object(let object) = value, case .string(let name)? = object["name"] else {
            throw ConfigurationError("a tool without a name")
        }
        func int(_ key: String) throws(ConfigurationError) -> Int64 {
            guard case .int(let number)? = object[key] else { throw ConfigurationError("tool '\(name)': '\(key)' must be an integer") }
            return number
        }
        guard let problem = PluginDescription.problem(name: name, version: "1", provides: []) else {
            guard case .string(let text)? = object["description"], !text.isEmpty, text.utf8.count <= Self.descriptionBytesMax else {
                throw ConfigurationError("tool '\(name)': 'description' must be text of 1 to \(Self.descriptionBytesMax) bytes")
            }
            guard let parameters = object["parameters"], case .object = parameters else {
                throw ConfigurationError("tool '\(name)': 'parameters' must be a JSON Schema object")
            }
            if let schemaProblem = JSONSchemaCheck.problem(in: parameters) {
                throw ConfigurationError("tool '\(name)': its parameters schema: \(schemaProblem)")
            }
            let price = try int("price_micro")
            let timeout = try int("timeout_ms")
            let output = try int("output_bytes_max")
            guard price >= 0 else { throw ConfigurationError("tool '\(name)': 'price_micro' must not be negative") }
            guard Self.timeoutMillisecondsRange.contains(Int(clamping: timeout)) else {
                throw ConfigurationError("tool '\(name)': 'timeout_ms' must be within \(Self.timeoutMillisecondsRange)")
            }
            guard Self.outputBytesMaxRange.contains(Int(clamping: output)) else {
                throw ConfigurationError("tool '\(name)': 'output_bytes_max' must be within \(Self.outputBytesMaxRange)")
            }
            var network = false
            if case .bool(let flag)? = object["network"] { network = flag }
            self.name = name
            self.description = text
            self.parameters = parameters
            priceMicro = price
            timeoutMilliseconds = Int(timeout)
            outputBytesMax = Int(output)
            self.network = network
            return
        }
        throw ConfigurationError("tool name '\(name)': \(problem)")
    }

    /// A plugin's `tools` text: a JSON array of tool objects, names unique.
    public static func list(_ text: [UInt8]) throws(ConfigurationError) -> [ToolDescription] {
        guard case .array(let items)? = try? JSONReader.parse(text) else { throw ConfigurationError("'tools' is not a JSON array") }
        var tools: [ToolDescription] = []
        for item in items { tools.append(try ToolDescription(json: item)) }
        guard Set(tools.map(\.name)).count == tools.count else { throw ConfigurationError("'tools' names one tool twice") }
        return tools
    }
}
