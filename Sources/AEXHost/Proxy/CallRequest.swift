/// What admission needs to know about a client's request, read once from its JSON body.
public struct CallRequest: Sendable, Equatable {
    public var model: String?
    public var stream = false
    /// `stream_options.include_usage`: the client wants the usage chunk of a stream.
    public var streamUsageRequested = false
    /// UTF-8 bytes of everything that becomes prompt (message and input strings, instructions, tools).
    public var promptBytes: Int64 = 0
    /// Messages (chat) or input items (embeddings, responses); each adds a fixed overhead.
    public var itemCount: Int64 = 0
    /// `max_tokens`, `max_completion_tokens` or `max_output_tokens`, when the request names one.
    public var requestedMaxTokens: Int64?
    public var toolNames: [String] = []
    public var usesTools = false
    public var hasImages = false

    /// Per-message overhead added to the prompt bound (role, separators).
    public static let itemOverheadTokens: Int64 = 8

    /// Upper bound of prompt tokens: a token is at least one byte.
    public var promptTokensBound: Int64 { promptBytes &+ itemCount &* Self.itemOverheadTokens }
}
