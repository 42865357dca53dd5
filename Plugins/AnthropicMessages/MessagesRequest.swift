/// An OpenAI chat completion request turned into an Anthropic Messages API request.
///
/// What maps: system and developer messages → `system` (their texts joined by a blank line);
/// user and assistant turns → `messages`, consecutive turns of one role merged; text parts → text
/// blocks; image parts (`data:` → base64 source, `https:` → URL source); function tools and
/// `tool_choice`; `parallel_tool_calls: false` → `disable_parallel_tool_use`; assistant `tool_calls`
/// → `tool_use` blocks; `tool` messages → `tool_result` blocks in a user turn; `stop` →
/// `stop_sequences`; `temperature` (0 to 1), `top_p`; `max_tokens` always set.
/// Refused (a `Refusal` naming the parameter): `n` other than 1, `logprobs`, `top_logprobs`,
/// `temperature` above 1, `response_format` other than text, audio (parts, `audio`, `modalities`),
/// `prediction`, legacy `functions`/`function_call`, file parts, non-function tools.
/// Dropped: `presence_penalty`, `frequency_penalty`, `seed`, `user`, `logit_bias`, `store`,
/// `metadata`, `service_tier`, `stream_options` (the host asks for usage itself) and other fields.
public enum MessagesRequest {
    /// The request asks for something Anthropic's API cannot honour; `message` names it.
    public struct Refusal: Error, Equatable {
        public let message: String
        public init(_ message: String) { self.message = message }
    }

    /// Image media types the Messages API accepts.
    public static let imageMediaTypes: Set<String> = ["image/jpeg", "image/png", "image/gif", "image/webp"]

    /// The Messages body for `body` (the client's chat request). `maxOutputTokens` > 0 is the
    /// host's output limit (the client named none); 0 leaves the client's own limit.
    public static func translate(body: JSON, providerModel: String, maxOutputTokens: Int64, stream: Bool) throws(Refusal) -> JSON {
        guard body.members != nil else { throw Refusal("the request body must be a JSON object") }
        try refuseUnsupported(body)
        guard let messages = body["messages"]?.array, !messages.isEmpty else { throw Refusal("'messages' must be a non-empty array") }

        var system: [String] = []
        var turns: [(role: String, blocks: [JSON])] = []
        func append(_ role: String, _ blocks: [JSON]) {
            if let last = turns.last, last.role == role {
                turns[turns.count - 1].blocks += blocks
            } else {
                turns.append((role, blocks))
            }
        }
        for (index, message) in messages.enumerated() {
            guard let role = message["role"]?.string else { throw Refusal("messages[\(index)] has no role") }
            switch role {
            case "system", "developer":
                system += try texts(message["content"], at: index)
            case "user":
                let blocks = try userBlocks(message["content"], at: index)
                guard !blocks.isEmpty else { throw Refusal("messages[\(index)] has no content") }
                append("user", blocks)
            case "assistant":
                var blocks = try texts(message["content"], at: index, allowRefusal: true).map(textBlock)
                if let calls = message["tool_calls"], !calls.isNull {
                    blocks += try toolUseBlocks(calls, at: index)
                }
                guard !blocks.isEmpty else { throw Refusal("messages[\(index)] has no content") }
                append("assistant", blocks)
            case "tool":
                guard let id = message["tool_call_id"]?.string, !id.isEmpty else {
                    throw Refusal("messages[\(index)] (tool) has no tool_call_id")
                }
                let content = try texts(message["content"], at: index).joined(separator: "\n")
                append("user", [.object([("type", .string("tool_result")), ("tool_use_id", .string(id)), ("content", .string(content))])])
            default:
                throw Refusal("messages[\(index)] has role '\(role)', which Anthropic models do not take")
            }
        }
        guard !turns.isEmpty else { throw Refusal("'messages' has no user or assistant message") }
        guard turns[0].role == "user" else { throw Refusal("Anthropic models need the conversation to begin with a user message") }

        var out: [(String, JSON)] = [("model", .string(providerModel)), ("max_tokens", .number(String(try outputLimit(body, maxOutputTokens))))]
        if !system.isEmpty { out.append(("system", .string(system.joined(separator: "\n\n")))) }
        out.append(("messages", .array(turns.map { .object([("role", .string($0.role)), ("content", .array($0.blocks))]) })))
        if let tools = body["tools"], !tools.isNull { out.append(("tools", try translateTools(tools))) }
        if let choice = try toolChoice(body) { out.append(("tool_choice", choice)) }
        if let stop = body["stop"], !stop.isNull { out.append(("stop_sequences", try stopSequences(stop))) }
        if let temperature = body["temperature"], !temperature.isNull {
            guard let value = temperature.double else { throw Refusal("'temperature' must be a number") }
            guard value >= 0, value <= 1 else { throw Refusal("'temperature' must be between 0 and 1 for Anthropic models (got \(temperature.text))") }
            out.append(("temperature", temperature))
        }
        if let topP = body["top_p"], !topP.isNull {
            guard let value = topP.double, value >= 0, value <= 1 else { throw Refusal("'top_p' must be a number between 0 and 1") }
            out.append(("top_p", topP))
        }
        if stream { out.append(("stream", .bool(true))) }
        return .object(out)
    }

    // MARK: Parameters

    private static func refuseUnsupported(_ body: JSON) throws(Refusal) {
        if let n = body["n"], !n.isNull, n.int64 != 1 { throw Refusal("'n' must be 1: Anthropic models return one choice") }
        if body["logprobs"]?.bool == true { throw Refusal("'logprobs' is not supported by Anthropic models") }
        if let top = body["top_logprobs"], !top.isNull { throw Refusal("'top_logprobs' is not supported by Anthropic models") }
        if let format = body["response_format"], !format.isNull, format["type"]?.string != "text" {
            throw Refusal("'response_format' \(format["type"]?.string.map { "'\($0)' " } ?? "")is not supported by Anthropic models")
        }
        if let audio = body["audio"], !audio.isNull { throw Refusal("'audio' output is not supported by Anthropic models") }
        if let modalities = body["modalities"]?.array, modalities.contains(where: { $0.string == "audio" }) {
            throw Refusal("'modalities' with audio is not supported by Anthropic models")
        }
        if let prediction = body["prediction"], !prediction.isNull { throw Refusal("'prediction' is not supported by Anthropic models") }
        if let functions = body["functions"], !functions.isNull { throw Refusal("'functions' is not supported: use 'tools'") }
        if let call = body["function_call"], !call.isNull { throw Refusal("'function_call' is not supported: use 'tool_choice'") }
    }

    private static func outputLimit(_ body: JSON, _ maxOutputTokens: Int64) throws(Refusal) -> Int64 {
        if maxOutputTokens > 0 { return maxOutputTokens }
        for field in ["max_completion_tokens", "max_tokens"] {
            guard let value = body[field], !value.isNull else { continue }
            guard let limit = value.int64, limit > 0 else { throw Refusal("'\(field)' must be a positive integer") }
            return limit
        }
        throw Refusal("'max_tokens' is required by Anthropic models")
    }

    private static func stopSequences(_ stop: JSON) throws(Refusal) -> JSON {
        if let one = stop.string { return .array([.string(one)]) }
        guard let many = stop.array, many.allSatisfy({ $0.string != nil }) else {
            throw Refusal("'stop' must be a string or an array of strings")
        }
        return .array(many)
    }

    private static func translateTools(_ tools: JSON) throws(Refusal) -> JSON {
        guard let list = tools.array else { throw Refusal("'tools' must be an array") }
        var out: [JSON] = []
        for (index, tool) in list.enumerated() {
            guard tool["type"]?.string == "function", let function = tool["function"], let name = function["name"]?.string, !name.isEmpty else {
                throw Refusal("tools[\(index)] must be a function tool with a name (other tool types are not supported)")
            }
            var member: [(String, JSON)] = [("name", .string(name))]
            if let description = function["description"]?.string { member.append(("description", .string(description))) }
            let schema = function["parameters"] ?? .null
            if schema.isNull {
                member.append(("input_schema", .object([("type", .string("object")), ("properties", .object([]))])))
            } else {
                guard schema.members != nil else { throw Refusal("tools[\(index)].function.parameters must be a JSON Schema object") }
                member.append(("input_schema", schema))
            }
            out.append(.object(member))
        }
        return .array(out)
    }

    private static func toolChoice(_ body: JSON) throws(Refusal) -> JSON? {
        let serial = body["parallel_tool_calls"]?.bool == false
        var choice: [(String, JSON)]
        switch body["tool_choice"] {
        case nil, .null?:
            guard serial else { return nil }
            choice = [("type", .string("auto"))]
        case .string("auto")?: choice = [("type", .string("auto"))]
        case .string("required")?: choice = [("type", .string("any"))]
        case .string("none")?: return .object([("type", .string("none"))])
        case let named? where named["type"]?.string == "function":
            guard let name = named["function"]?["name"]?.string, !name.isEmpty else { throw Refusal("'tool_choice' names no function") }
            choice = [("type", .string("tool")), ("name", .string(name))]
        default:
            throw Refusal("'tool_choice' must be \"auto\", \"required\", \"none\" or a function")
        }
        if serial { choice.append(("disable_parallel_tool_use", .bool(true))) }
        return .object(choice)
    }

    // MARK: Content

    private static func textBlock(_ text: String) -> JSON { .object([("type", .string("text")), ("text", .string(text))]) }

    /// The texts of a message's content: a string, or text parts (refusal parts too for an assistant).
    /// Empty texts are left out (the Messages API refuses empty text blocks).
    private static func texts(_ content: JSON?, at index: Int, allowRefusal: Bool = false) throws(Refusal) -> [String] {
        switch content {
        case nil, .null?: return []
        case .string(let text)?: return text.isEmpty ? [] : [text]
        case .array(let parts)?:
            var out: [String] = []
            for part in parts {
                switch part["type"]?.string {
                case "text"?:
                    if let text = try partText(part, at: index) { out.append(text) }
                case "refusal"? where allowRefusal:
                    if let text = part["refusal"]?.string, !text.isEmpty { out.append(text) }
                default:
                    throw Refusal("messages[\(index)] may hold only text parts")
                }
            }
            return out
        default:
            throw Refusal("messages[\(index)].content must be a string or an array of parts")
        }
    }

    /// A text part's text; nil when empty (left out).
    private static func partText(_ part: JSON, at index: Int) throws(Refusal) -> String? {
        guard let text = part["text"]?.string else { throw Refusal("messages[\(index)] has a text part without text") }
        return text.isEmpty ? nil : text
    }

    private static func userBlocks(_ content: JSON?, at index: Int) throws(Refusal) -> [JSON] {
        guard case .array(let parts)? = content else { return try texts(content, at: index).map(textBlock) }
        var blocks: [JSON] = []
        for part in parts {
            switch part["type"]?.string {
            case "text"?:
                if let text = try partText(part, at: index) { blocks.append(textBlock(text)) }
            case "image_url"?:
                guard let url = part["image_url"]?["url"]?.string else { throw Refusal("messages[\(index)] has an image part without a url") }
                blocks.append(try imageBlock(url, at: index))
            case "input_audio"?:
                throw Refusal("messages[\(index)] has an audio part: audio input is not supported by Anthropic models")
            case let other:
                throw Refusal("messages[\(index)] has a '\(other ?? "untyped")' part, which Anthropic models do not take here")
            }
        }
        return blocks
    }

    private static func imageBlock(_ url: String, at index: Int) throws(Refusal) -> JSON {
        if url.hasPrefix("data:") {
            let rest = url.dropFirst(5)
            guard let comma = rest.firstIndex(of: ","), rest[rest.startIndex..<comma].hasSuffix(";base64") else {
                throw Refusal("messages[\(index)] has an image data URL that is not base64")
            }
            let mediaType = String(rest[rest.startIndex..<comma].dropLast(7)).lowercased()
            guard imageMediaTypes.contains(mediaType) else {
                throw Refusal("messages[\(index)] has an image of type '\(mediaType)'; Anthropic models take jpeg, png, gif and webp")
            }
            return .object([("type", .string("image")), ("source", .object([
                ("type", .string("base64")), ("media_type", .string(mediaType)), ("data", .string(String(rest[rest.index(after: comma)...]))),
            ]))])
        }
        guard url.hasPrefix("https://") else { throw Refusal("messages[\(index)] has an image URL that is neither https nor a data URL") }
        return .object([("type", .string("image")), ("source", .object([("type", .string("url")), ("url", .string(url))]))])
    }

    private static func toolUseBlocks(_ calls: JSON, at index: Int) throws(Refusal) -> [JSON] {
        guard let list = calls.array else { throw Refusal("messages[\(index)].tool_calls must be an array") }
        var blocks: [JSON] = []
        for call in list {
            guard let id = call["id"]?.string, !id.isEmpty, let function = call["function"], let name = function["name"]?.string else {
                throw Refusal("messages[\(index)].tool_calls holds a call without id or function name")
            }
            let arguments = function["arguments"]?.string ?? "{}"
            guard let input = try? JSON.parse(arguments.isEmpty ? "{}" : arguments), input.members != nil else {
                throw Refusal("messages[\(index)].tool_calls '\(id)' has arguments that are not a JSON object")
            }
            blocks.append(.object([("type", .string("tool_use")), ("id", .string(id)), ("name", .string(name)), ("input", input)]))
        }
        return blocks
    }
}
