/// What a model can do, from its optional `capabilities` mapping (YAML `true`/`false` only).
/// Defaults (SPEC §6, those of the original format): `tools`, `vision` and `reasoning` false;
/// `streaming` and `embeddings` true, refused only when the file says `false`.
public struct ModelCapabilities: Sendable, Equatable {
    public var tools: Bool
    public var vision: Bool
    public var reasoning: Bool
    public var streaming: Bool
    public var embeddings: Bool

    /// The defaults when a key (or the whole mapping) is absent.
    public static let defaults = ModelCapabilities()

    public init(
        tools: Bool = false, vision: Bool = false, reasoning: Bool = false, streaming: Bool = true,
        embeddings: Bool = true
    ) {
        self.tools = tools
        self.vision = vision
        self.reasoning = reasoning
        self.streaming = streaming
        self.embeddings = embeddings
    }
}

// MARK: - Validation

extension ModelCapabilities {
    static let keys = ["tools", "vision", "reasoning", "streaming", "embeddings"]

    /// Validates the `capabilities` mapping of model `alias`; an empty value means all defaults.
    static func validate(_ node: YAMLNode?, alias: String, file: String) throws(YAMLError) -> ModelCapabilities {
        var result = ModelCapabilities.defaults
        guard let node else { return result }
        let context = "capabilities of model '\(alias)'"
        _ = try node.keyedMapping(context, allowed: keys, file: file, nullIsEmpty: true)
        for entry in try node.mappingEntries(context, file: file, nullIsEmpty: true) {
            let value = try entry.value.bool("\(entry.key) in \(context)", file: file)
            switch entry.key {
            case "tools": result.tools = value
            case "vision": result.vision = value
            case "reasoning": result.reasoning = value
            case "streaming": result.streaming = value
            default: result.embeddings = value
            }
        }
        return result
    }
}
