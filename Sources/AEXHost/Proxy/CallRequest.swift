/// What admission needs to know about a client's request, read once from its JSON body.
public struct CallRequest: Sendable, Equatable {
    public var model: String?
    public var stream = false
    /// `stream_options.include_usage`: the client wants the usage chunk of a stream.
    public var streamUsageRequested = false
    /// UTF-8 bytes of everything that becomes prompt (message and input strings, instructions, tools,
    /// response format, prediction, tool choice).
    public var promptBytes: Int64 = 0
    /// Messages (chat) or input items (embeddings, responses); each adds a fixed overhead.
    public var itemCount: Int64 = 0
    /// The largest of `max_tokens`, `max_completion_tokens` and `max_output_tokens`, when the
    /// request names any: the output limit of one choice.
    public var requestedMaxTokens: Int64?
    /// Choices the provider generates and bills (`n`, `best_of`: the larger), 1 by default.
    public var choices: Int64 = 1
    public var toolNames: [String] = []
    public var usesTools = false
    public var hasImages = false

    /// The largest `n` (or `best_of`) accepted, as OpenAI documents for `n`.
    public static let choicesMax: Int64 = 128

    /// Per-message overhead added to the prompt bound (role, separators).
    public static let itemOverheadTokens: Int64 = 8

    /// Upper bound of prompt tokens: a token is at least one byte.
    public var promptTokensBound: Int64 { promptBytes &+ itemCount &* Self.itemOverheadTokens }
}
