@testable import AEXHost

/// The request inspector as first written, over a `JSONReader` tree of values: simple enough to be
/// obviously right, so the tape-based `RequestInspector` is checked against it.
enum TreeRequestInspector {
    typealias Invalid = RequestInspector.Invalid

    static func inspect(_ endpoint: Endpoint, body: [UInt8]) throws(Invalid) -> CallRequest {
        let root: JSONValue
        do {
            root = try JSONReader.parse(body)
        } catch {
            throw Invalid("the body is not valid JSON: \(error.reason) at byte \(error.offset)")
        }
        guard case .object(let object) = root else { throw Invalid("the body must be a JSON object") }
        var request = CallRequest()
        switch object["model"] {
        case nil, .null?: break
        case .string(let model)?: request.model = model
        default: throw Invalid("'model' must be a string")
        }
        switch object["stream"] {
        case nil, .null?: break
        case .bool(let flag)?: request.stream = flag
        default: throw Invalid("'stream' must be a boolean")
        }
        switch object["stream_options"] {
        case nil, .null?: break
        case .object(let options)?:
            if case .bool(let flag)? = options["include_usage"] { request.streamUsageRequested = flag }
        default: throw Invalid("'stream_options' must be an object")
        }
        for key in ["max_tokens", "max_completion_tokens", "max_output_tokens"] {
            switch object[key] {
            case nil, .null?: continue
            case .int(let value)? where value >= 1:
                request.requestedMaxTokens = max(request.requestedMaxTokens ?? value, value)
            default: throw Invalid("'\(key)' must be a positive integer")
            }
        }
        for key in ["n", "best_of"] {
            switch object[key] {
            case nil, .null?: continue
            case .int(let value)? where value >= 1 && value <= CallRequest.choicesMax:
                request.choices = max(request.choices, value)
            default: throw Invalid("'\(key)' must be an integer from 1 to \(CallRequest.choicesMax)")
            }
        }
        switch endpoint {
        case .chatCompletions:
            guard case .array(let messages)? = object["messages"] else { throw Invalid("'messages' must be a list of messages") }
            guard !messages.isEmpty else { throw Invalid("'messages' must not be empty") }
            for message in messages {
                guard case .object(let fields) = message else { throw Invalid("each message must be an object") }
                guard case .string? = fields["role"] else { throw Invalid("each message needs a string 'role'") }
                switch fields["content"] {
                case nil, .null?, .string?: break
                case .array(let parts)?:
                    for part in parts {
                        guard case .object(let partFields) = part else { throw Invalid("content parts must be objects") }
                        if case .string(let type)? = partFields["type"], type == "image_url" || type == "input_image" {
                            request.hasImages = true
                        }
                    }
                default: throw Invalid("message 'content' must be a string, a list of parts or null")
                }
                request.promptBytes &+= stringBytes(message)
                request.itemCount += 1
            }
        case .embeddings:
            switch object["input"] {
            case .string(let text)?:
                request.promptBytes = Int64(text.utf8.count)
                request.itemCount = 1
            case .array(let items)? where !items.isEmpty:
                for item in items {
                    switch item {
                    case .string(let text): request.promptBytes &+= Int64(text.utf8.count)
                    case .array(let tokens): request.promptBytes &+= Int64(tokens.count)  // token ids: one token each
                    case .int: request.promptBytes &+= 1
                    default: throw Invalid("'input' items must be strings or token lists")
                    }
                    request.itemCount += 1
                }
            default: throw Invalid("'input' must be a non-empty string or list")
            }
        case .responses:
            switch object["input"] {
            case .string(let text)?:
                request.promptBytes = Int64(text.utf8.count)
                request.itemCount = 1
            case .array(let items)? where !items.isEmpty:
                for item in items {
                    guard case .object(let fields) = item else { throw Invalid("'input' items must be objects") }
                    if case .array(let parts)? = fields["content"] {
                        for case .object(let part) in parts {
                            if case .string(let type)? = part["type"], type == "input_image" || type == "image_url" { request.hasImages = true }
                        }
                    }
                    request.promptBytes &+= stringBytes(item)
                    request.itemCount += 1
                }
            default: throw Invalid("'input' must be a non-empty string or list")
            }
            if case .string(let instructions)? = object["instructions"] { request.promptBytes &+= Int64(instructions.utf8.count) }
            for key in ["previous_response_id", "conversation", "prompt"] {
                switch object[key] {
                case nil, .null?: continue
                default: throw Invalid("'\(key)' is not accepted: the prompt it adds is kept by the provider, so AEX cannot bound its cost; send the whole conversation in 'input'")
                }
            }
        }
        for key in ["tools", "functions"] {
            guard let tools = object[key] else { continue }
            guard case .array(let list) = tools else { throw Invalid("'\(key)' must be a list") }
            if !list.isEmpty { request.usesTools = true }
            for tool in list {
                guard case .object(let fields) = tool else { throw Invalid("each tool must be an object") }
                if case .object(let function)? = fields["function"], case .string(let name)? = function["name"] {
                    request.toolNames.append(name)
                } else if case .string(let name)? = fields["name"] {
                    request.toolNames.append(name)
                } else if case .string(let type)? = fields["type"] {
                    request.toolNames.append(type)
                }
            }
            request.promptBytes &+= Int64(tools.canonicalText.utf8.count)  // tool schemas become prompt, keys and all
        }
        for key in ["response_format", "prediction", "text", "tool_choice"] {
            switch object[key] {
            case nil, .null?: continue
            case let value?: request.promptBytes &+= Int64(value.canonicalText.utf8.count)
            }
        }
        return request
    }

    /// UTF-8 bytes of every string value inside a value (keys are structure, covered by the
    /// per-item overhead).
    static func stringBytes(_ value: JSONValue) -> Int64 {
        switch value {
        case .string(let text): return Int64(text.utf8.count)
        case .array(let items): return items.reduce(0) { $0 &+ stringBytes($1) }
        case .object(let members): return members.values.reduce(0) { $0 &+ stringBytes($1) }
        default: return 0
        }
    }
}
