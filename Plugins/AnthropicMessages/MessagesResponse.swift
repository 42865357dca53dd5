/// Anthropic Messages answers turned into OpenAI chat completion answers.
public enum MessagesResponse {
    /// Tokens as reported; nil where the report lacks a usable count.
    public struct Usage: Equatable, Sendable {
        public var promptTokens: Int64?
        public var completionTokens: Int64?
        public init(promptTokens: Int64?, completionTokens: Int64?) {
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
        }
    }

    public struct Translation {
        public let body: [UInt8]
        public let usage: Usage
    }

    /// The provider's answer is not a Messages answer.
    public struct Malformed: Error, Equatable {
        public let message: String
    }

    /// `stop_reason` → `finish_reason`.
    public static func finishReason(_ stopReason: String?) -> JSON {
        switch stopReason {
        case "end_turn"?, "stop_sequence"?, "pause_turn"?: return .string("stop")
        case "max_tokens"?, "model_context_window_exceeded"?: return .string("length")
        case "tool_use"?: return .string("tool_calls")
        case "refusal"?: return .string("content_filter")
        case nil: return .null
        case let other?: return .string(other)
        }
    }

    /// The prompt tokens a usage object reports: input plus cache reads and cache writes (every
    /// one billed); nil without `input_tokens`, with a negative count, or on overflow.
    public static func promptTokens(_ usage: JSON?) -> Int64? {
        guard let usage, let input = usage["input_tokens"]?.int64, input >= 0 else { return nil }
        var total = input
        for field in ["cache_read_input_tokens", "cache_creation_input_tokens"] {
            guard let value = usage[field], !value.isNull else { continue }
            guard let count = value.int64, count >= 0 else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(count)
            guard !overflow else { return nil }
            total = sum
        }
        return total
    }

    public static func completionTokens(_ usage: JSON?) -> Int64? {
        guard let count = usage?["output_tokens"]?.int64, count >= 0 else { return nil }
        return count
    }

    /// The OpenAI `usage` object for counts that are both known.
    static func usageObject(prompt: Int64, completion: Int64, cached: Int64?) -> JSON {
        let (total, overflow) = prompt.addingReportingOverflow(completion)
        var members: [(String, JSON)] = [
            ("prompt_tokens", .number(String(prompt))), ("completion_tokens", .number(String(completion))),
            ("total_tokens", overflow ? .null : .number(String(total))),
        ]
        if let cached { members.append(("prompt_tokens_details", .object([("cached_tokens", .number(String(cached)))]))) }
        return .object(members)
    }

    /// A `message` answer as a `chat.completion` under `alias`, created at `createdSeconds`.
    public static func translate(body: [UInt8], alias: String, createdSeconds: Int64) throws(Malformed) -> Translation {
        guard let answer = try? JSON.parse(body), answer["type"]?.string == "message", let content = answer["content"]?.array else {
            throw Malformed(message: "provider returned an answer that is not a Messages API message")
        }
        var text: [String] = []
        var calls: [JSON] = []
        for block in content {
            switch block["type"]?.string {
            case "text"?:
                if let piece = block["text"]?.string { text.append(piece) }
            case "tool_use"?:
                guard let id = block["id"]?.string, let name = block["name"]?.string else {
                    throw Malformed(message: "provider returned a tool_use block without id or name")
                }
                calls.append(.object([
                    ("id", .string(id)), ("type", .string("function")),
                    ("function", .object([("name", .string(name)), ("arguments", .string((block["input"] ?? .object([])).text))])),
                ]))
            default:
                continue  // thinking and server blocks have no chat completion form
            }
        }
        var message: [(String, JSON)] = [("role", .string("assistant"))]
        message.append(("content", text.isEmpty && !calls.isEmpty ? .null : .string(text.joined())))
        if !calls.isEmpty { message.append(("tool_calls", .array(calls))) }
        message.append(("refusal", .null))

        let usage = Usage(promptTokens: promptTokens(answer["usage"]), completionTokens: completionTokens(answer["usage"]))
        var members: [(String, JSON)] = [
            ("id", .string(answer["id"]?.string ?? "msg")), ("object", .string("chat.completion")),
            ("created", .number(String(createdSeconds))), ("model", .string(alias)),
            ("choices", .array([.object([
                ("index", .number("0")), ("message", .object(message)), ("logprobs", .null),
                ("finish_reason", finishReason(answer["stop_reason"]?.string)),
            ])])),
        ]
        if let prompt = usage.promptTokens, let completion = usage.completionTokens {
            members.append(("usage", usageObject(prompt: prompt, completion: completion,
                                                 cached: answer["usage"]?["cache_read_input_tokens"]?.int64)))
        }
        return Translation(body: JSON.object(members).bytes, usage: usage)
    }

    /// An error answer (`{"type":"error","error":{"type","message"}}`) as OpenAI's
    /// `{"error":{"message","type","code","param"}}`; nil when the body has another shape.
    public static func translateError(body: [UInt8]) -> [UInt8]? {
        guard let answer = try? JSON.parse(body), let error = answer["error"], let message = error["message"]?.string else { return nil }
        let type = error["type"]?.string ?? "api_error"
        return JSON.object([("error", .object([
            ("message", .string(message)), ("type", .string(type)), ("code", .string(type)), ("param", .null),
        ]))]).bytes
    }
}
