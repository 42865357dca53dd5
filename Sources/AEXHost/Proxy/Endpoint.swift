import AEXPluginAPI

/// The governed OpenAI endpoints.
public enum Endpoint: String, Sendable, CaseIterable {
    case chatCompletions = "chat/completions"
    case embeddings = "embeddings"
    case responses = "responses"

    var abiValue: UInt32 {
        switch self {
        case .chatCompletions: return AEX_ENDPOINT_CHAT_COMPLETIONS.rawValue
        case .embeddings: return AEX_ENDPOINT_EMBEDDINGS.rawValue
        case .responses: return AEX_ENDPOINT_RESPONSES.rawValue
        }
    }
}
