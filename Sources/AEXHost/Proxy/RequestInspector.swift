/// Reads a client's request body into a `CallRequest`, refusing what is not a valid request of the
/// endpoint (→ 400 `invalid_request`). Pure. Reads the body through a `JSONTape` (no tree of
/// values): this runs on every call.
public enum RequestInspector {
    public struct Invalid: Error, Equatable, Sendable {
        public let message: String
        init(_ message: String) { self.message = message }
    }

    public static func inspect(_ endpoint: Endpoint, body: [UInt8]) throws(Invalid) -> CallRequest {
        let tape: JSONTape
        do {
            tape = try JSONTape.parse(body)
        } catch {
            throw Invalid("the body is not valid JSON: \(error.reason) at byte \(error.offset)")
        }
        let root = JSONTape.root
        guard tape.kind(root) == .object else { throw Invalid("the body must be a JSON object") }
        var request = CallRequest()
        if let model = tape.member(root, "model"), tape.kind(model) != .null {
            guard tape.kind(model) == .string else { throw Invalid("'model' must be a string") }
            request.model = tape.string(model)
        }
        if let stream = tape.member(root, "stream"), tape.kind(stream) != .null {
            guard let flag = bool(tape, stream) else { throw Invalid("'stream' must be a boolean") }
            request.stream = flag
        }
        if let options = tape.member(root, "stream_options"), tape.kind(options) != .null {
            guard tape.kind(options) == .object else { throw Invalid("'stream_options' must be an object") }
            if let include = tape.member(options, "include_usage"), let flag = bool(tape, include) { request.streamUsageRequested = flag }
        }
        // Every output limit named bounds the call: a provider may honour any one of them, so the
        // largest is the bound (never the smallest).
        for (key, name) in [(tape.member(root, "max_tokens"), "max_tokens"),
                            (tape.member(root, "max_completion_tokens"), "max_completion_tokens"),
                            (tape.member(root, "max_output_tokens"), "max_output_tokens")] {
            guard let key, tape.kind(key) != .null else { continue }
            guard let value = tape.int(key), value >= 1 else { throw Invalid("'\(name)' must be a positive integer") }
            request.requestedMaxTokens = max(request.requestedMaxTokens ?? value, value)
        }
        // Multipliers of billed output: each choice may use the whole output limit.
        for (key, name) in [(tape.member(root, "n"), "n"), (tape.member(root, "best_of"), "best_of")] {
            guard let key, tape.kind(key) != .null else { continue }
            guard let value = tape.int(key), value >= 1, value <= CallRequest.choicesMax else {
                throw Invalid("'\(name)' must be an integer from 1 to \(CallRequest.choicesMax)")
            }
            request.choices = max(request.choices, value)
        }
        switch endpoint {
        case .chatCompletions: try readMessages(tape, into: &request)
        case .embeddings: try readEmbeddingInput(tape, into: &request)
        case .responses: try readResponsesInput(tape, into: &request)
        }
        for (key, name) in [(tape.member(root, "tools"), "tools"), (tape.member(root, "functions"), "functions")] {
            guard let tools = key else { continue }
            guard tape.kind(tools) == .array else { throw Invalid("'\(name)' must be a list") }
            if tape.nodes[tools].count > 0 { request.usesTools = true }
            try tape.forEachItem(tools) { (tool: Int) throws(Invalid) in
                guard tape.kind(tool) == .object else { throw Invalid("each tool must be an object") }
                if let function = tape.member(tool, "function"), tape.kind(function) == .object,
                   let name = tape.member(function, "name"), tape.kind(name) == .string {
                    request.toolNames.append(tape.string(name))
                } else if let name = tape.member(tool, "name"), tape.kind(name) == .string {
                    request.toolNames.append(tape.string(name))
                } else if let type = tape.member(tool, "type"), tape.kind(type) == .string {
                    request.toolNames.append(tape.string(type))
                }
            }
            // Tool schemas become prompt, keys and all: their canonical text is counted.
            request.promptBytes &+= Int64(tape.value(tools).canonicalText.utf8.count)
        }
        // Other members the provider turns into prompt (schemas, predicted output, the tool
        // choice): their canonical text, keys and all.
        for key in [tape.member(root, "response_format"), tape.member(root, "prediction"), tape.member(root, "text"),
                    tape.member(root, "tool_choice")] {
            guard let key, tape.kind(key) != .null else { continue }
            request.promptBytes &+= Int64(tape.value(key).canonicalText.utf8.count)
        }
        return request
    }

    private static func bool(_ tape: JSONTape, _ node: Int) -> Bool? {
        switch tape.kind(node) {
        case .true: true
        case .false: false
        default: nil
        }
    }

    private static func readMessages(_ tape: JSONTape, into request: inout CallRequest) throws(Invalid) {
        guard let messages = tape.member(JSONTape.root, "messages"), tape.kind(messages) == .array else {
            throw Invalid("'messages' must be a list of messages")
        }
        guard tape.nodes[messages].count > 0 else { throw Invalid("'messages' must not be empty") }
        try tape.forEachItem(messages) { (message: Int) throws(Invalid) in
            guard tape.kind(message) == .object else { throw Invalid("each message must be an object") }
            guard let role = tape.member(message, "role"), tape.kind(role) == .string else {
                throw Invalid("each message needs a string 'role'")
            }
            if let content = tape.member(message, "content") {
                switch tape.kind(content) {
                case .null, .string: break
                case .array:
                    try tape.forEachItem(content) { (part: Int) throws(Invalid) in
                        guard tape.kind(part) == .object else { throw Invalid("content parts must be objects") }
                        if isImagePart(tape, part) { request.hasImages = true }
                    }
                default: throw Invalid("message 'content' must be a string, a list of parts or null")
                }
            }
            request.promptBytes &+= tape.stringValueBytes(message)
            request.itemCount += 1
        }
    }

    private static func readEmbeddingInput(_ tape: JSONTape, into request: inout CallRequest) throws(Invalid) {
        try readInput(tape, into: &request) { (item: Int, request: inout CallRequest) throws(Invalid) in
            switch tape.kind(item) {
            case .string: request.promptBytes &+= Int64(tape.nodes[item].count)
            case .array: request.promptBytes &+= Int64(tape.nodes[item].count)  // token ids: one token each
            case .integer: request.promptBytes &+= 1
            default: throw Invalid("'input' items must be strings or token lists")
            }
        }
    }

    private static func readResponsesInput(_ tape: JSONTape, into request: inout CallRequest) throws(Invalid) {
        try readInput(tape, into: &request) { (item: Int, request: inout CallRequest) throws(Invalid) in
            guard tape.kind(item) == .object else { throw Invalid("'input' items must be objects") }
            if let content = tape.member(item, "content"), tape.kind(content) == .array {
                tape.forEachItem(content) { part in
                    if tape.kind(part) == .object, isImagePart(tape, part) { request.hasImages = true }
                }
            }
            request.promptBytes &+= tape.stringValueBytes(item)
        }
        if let instructions = tape.member(JSONTape.root, "instructions"), tape.kind(instructions) == .string {
            request.promptBytes &+= Int64(tape.nodes[instructions].count)
        }
        // Prompt the provider keeps (an earlier response, a conversation, a stored prompt) is not in
        // the body, so no reservation could bound it.
        for (key, name) in [(tape.member(JSONTape.root, "previous_response_id"), "previous_response_id"),
                            (tape.member(JSONTape.root, "conversation"), "conversation"),
                            (tape.member(JSONTape.root, "prompt"), "prompt")] {
            guard let key, tape.kind(key) != .null else { continue }
            throw Invalid("'\(name)' is not accepted: the prompt it adds is kept by the provider, so AEX cannot bound its cost; send the whole conversation in 'input'")
        }
    }

    /// `input`: a string (one item) or a non-empty list, each of whose items `readItem` measures.
    private static func readInput(
        _ tape: JSONTape, into request: inout CallRequest, _ readItem: (Int, inout CallRequest) throws(Invalid) -> Void
    ) throws(Invalid) {
        let input = tape.member(JSONTape.root, "input")
        if let input, tape.kind(input) == .string {
            request.promptBytes = Int64(tape.nodes[input].count)
            request.itemCount = 1
            return
        }
        guard let input, tape.kind(input) == .array, tape.nodes[input].count > 0 else {
            throw Invalid("'input' must be a non-empty string or list")
        }
        try tape.forEachItem(input) { (item: Int) throws(Invalid) in
            try readItem(item, &request)
            request.itemCount += 1
        }
    }

    /// A content part whose `type` is an image (chat's `image_url`, the Responses API's `input_image`).
    private static func isImagePart(_ tape: JSONTape, _ part: Int) -> Bool {
        guard let type = tape.member(part, "type") else { return false }
        return tape.textEquals(type, "image_url") || tape.textEquals(type, "input_image")
    }
}
