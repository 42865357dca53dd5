/// Anthropic's streamed events turned into `chat.completion.chunk` events, one event at a time.
/// What later events need from earlier ones (the message id, the tool index of each content block,
/// the usage so far) lives in `State`, which the host keeps between events.
///
/// message_start → the role chunk (prompt usage reported); content_block_start of a tool_use → the
/// tool call's first piece (id, name); text_delta → content; input_json_delta → argument pieces;
/// message_delta → the finish chunk (completion usage reported); message_stop → the usage-only
/// chunk, and the end of the answer; ping, content_block_stop, thinking and unknown events → nothing;
/// error → a failure naming the provider's error.
public enum MessagesStream {
    public struct State: Equatable, Sendable {
        public var id: String
        public var createdSeconds: Int64
        /// Tool call index (among tool calls only, from 0) of each tool_use content block.
        public var toolIndexByBlock: [Int64: Int64] = [:]
        public var promptTokens: Int64?
        public var completionTokens: Int64?
        public var cachedTokens: Int64?

        public init(id: String, createdSeconds: Int64) {
            self.id = id
            self.createdSeconds = createdSeconds
        }

        public var bytes: [UInt8] {
            var members: [(String, JSON)] = [("id", .string(id)), ("created", .number(String(createdSeconds)))]
            members.append(("tools", .array(toolIndexByBlock.sorted { $0.key < $1.key }.map {
                .array([.number(String($0.key)), .number(String($0.value))])
            })))
            if let promptTokens { members.append(("prompt", .number(String(promptTokens)))) }
            if let completionTokens { members.append(("completion", .number(String(completionTokens)))) }
            if let cachedTokens { members.append(("cached", .number(String(cachedTokens)))) }
            return JSON.object(members).bytes
        }

        public init?(bytes: [UInt8]) {
            guard !bytes.isEmpty, let json = try? JSON.parse(bytes), let id = json["id"]?.string, let created = json["created"]?.int64,
                  let tools = json["tools"]?.array else { return nil }
            self.init(id: id, createdSeconds: created)
            for pair in tools {
                guard let items = pair.array, items.count == 2, let block = items[0].int64, let tool = items[1].int64 else { return nil }
                toolIndexByBlock[block] = tool
            }
            promptTokens = json["prompt"]?.int64
            completionTokens = json["completion"]?.int64
            cachedTokens = json["cached"]?.int64
        }
    }

    public struct Output: Equatable {
        public var emitted: [[UInt8]] = []
        public var promptTokens: Int64?
        public var completionTokens: Int64?
        public var usageOnly = false
        public var ended = false
        /// The state after this event; nil when unchanged.
        public var state: State?
    }

    public struct Failure: Error, Equatable {
        public let message: String
    }

    /// Translates one event's data. `state` is nil before message_start.
    public static func translate(data: [UInt8], alias: String, state: State?, nowSeconds: Int64) throws(Failure) -> Output {
        guard let event = try? JSON.parse(data), let type = event["type"]?.string else {
            throw Failure(message: "provider sent a malformed stream event")
        }
        var output = Output()
        if type == "message_start" {
            guard let message = event["message"] else { throw Failure(message: "provider sent message_start without a message") }
            var fresh = State(id: message["id"]?.string ?? "msg", createdSeconds: nowSeconds)
            fresh.promptTokens = MessagesResponse.promptTokens(message["usage"])
            fresh.cachedTokens = message["usage"]?["cache_read_input_tokens"]?.int64
            // Only the prompt is known here: a stream cut before message_delta is charged by estimate.
            output.promptTokens = fresh.promptTokens
            output.emitted.append(chunk(fresh, alias, delta: [("role", .string("assistant")), ("content", .string(""))]))
            output.state = fresh
            return output
        }
        if type == "error" {
            let error = event["error"]
            throw Failure(message: "provider stream error: \(error?["type"]?.string ?? "error"): \(error?["message"]?.string ?? "no message")")
        }
        if type == "ping" { return output }
        guard var state else { throw Failure(message: "provider stream did not begin with message_start") }

        switch type {
        case "content_block_start":
            guard let block = event["content_block"], let index = event["index"]?.int64 else { break }
            switch block["type"]?.string {
            case "text"?:
                if let text = block["text"]?.string, !text.isEmpty {
                    output.emitted.append(chunk(state, alias, delta: [("content", .string(text))]))
                }
            case "tool_use"?:
                guard let id = block["id"]?.string, let name = block["name"]?.string else {
                    throw Failure(message: "provider sent a tool_use block without id or name")
                }
                let toolIndex = Int64(state.toolIndexByBlock.count)
                state.toolIndexByBlock[index] = toolIndex
                output.state = state
                output.emitted.append(chunk(state, alias, delta: [("tool_calls", .array([.object([
                    ("index", .number(String(toolIndex))), ("id", .string(id)), ("type", .string("function")),
                    ("function", .object([("name", .string(name)), ("arguments", .string(""))])),
                ])]))]))
            default:
                break
            }
        case "content_block_delta":
            guard let delta = event["delta"] else { break }
            switch delta["type"]?.string {
            case "text_delta"?:
                if let text = delta["text"]?.string, !text.isEmpty {
                    output.emitted.append(chunk(state, alias, delta: [("content", .string(text))]))
                }
            case "input_json_delta"?:
                guard let index = event["index"]?.int64, let toolIndex = state.toolIndexByBlock[index] else {
                    throw Failure(message: "provider sent tool arguments for a block that is not a tool call")
                }
                let piece = delta["partial_json"]?.string ?? ""
                if !piece.isEmpty {
                    output.emitted.append(chunk(state, alias, delta: [("tool_calls", .array([.object([
                        ("index", .number(String(toolIndex))), ("function", .object([("arguments", .string(piece))])),
                    ])]))]))
                }
            default:
                break  // thinking, signatures, citations
            }
        case "message_delta":
            let usage = event["usage"]
            if let completion = MessagesResponse.completionTokens(usage) {
                state.completionTokens = completion
                output.completionTokens = completion
            }
            if usage?["input_tokens"] != nil, let prompt = MessagesResponse.promptTokens(usage) {
                state.promptTokens = prompt
                output.promptTokens = prompt
            }
            output.state = state
            if let reason = event["delta"]?["stop_reason"]?.string {
                output.emitted.append(chunk(state, alias, delta: [], finishReason: MessagesResponse.finishReason(reason)))
            }
        case "message_stop":
            output.ended = true
            if let prompt = state.promptTokens, let completion = state.completionTokens {
                output.usageOnly = true
                output.emitted.append(JSON.object([
                    ("id", .string(state.id)), ("object", .string("chat.completion.chunk")),
                    ("created", .number(String(state.createdSeconds))), ("model", .string(alias)), ("choices", .array([])),
                    ("usage", MessagesResponse.usageObject(prompt: prompt, completion: completion, cached: state.cachedTokens)),
                ]).bytes)
            }
        default:
            break  // content_block_stop and events this version does not know
        }
        return output
    }

    static func chunk(_ state: State, _ alias: String, delta: [(String, JSON)], finishReason: JSON = .null) -> [UInt8] {
        JSON.object([
            ("id", .string(state.id)), ("object", .string("chat.completion.chunk")),
            ("created", .number(String(state.createdSeconds))), ("model", .string(alias)),
            ("choices", .array([.object([
                ("index", .number("0")), ("delta", .object(delta)), ("logprobs", .null), ("finish_reason", finishReason),
            ])])),
        ]).bytes
    }
}
