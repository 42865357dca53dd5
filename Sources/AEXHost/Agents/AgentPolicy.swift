/// What an agent may do. `nil` model or tool lists mean "everything allowed"; an empty list allows nothing.
public struct AgentPolicy: Sendable, Equatable {
    public var models: [String]?
    public var tools: [String]?
    public var streaming: Bool
    public var vision: Bool
    public var maxTokens: Int64?
    public var passthrough: Bool
    public var readOnly: Bool

    public static let `default` = AgentPolicy(
        models: nil, tools: nil, streaming: true, vision: false, maxTokens: nil, passthrough: false, readOnly: false)

    public init(
        models: [String]?, tools: [String]?, streaming: Bool, vision: Bool, maxTokens: Int64?,
        passthrough: Bool, readOnly: Bool
    ) {
        self.models = models
        self.tools = tools
        self.streaming = streaming
        self.vision = vision
        self.maxTokens = maxTokens
        self.passthrough = passthrough
        self.readOnly = readOnly
    }
}
