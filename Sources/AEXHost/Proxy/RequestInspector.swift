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
        let members = RootMembers(tape)
        var request = CallRequest()
        if let model = members.model, tape.kind(model) != .null {
            guard tape.kind(model) == .string else { throw Invalid("'model' must be a string") }
            request.model = tape.string(model)
        }
        if let stream = members.stream, tape.kind(stream) != .null {
            guard let flag = bool(tape, stream) else { throw Invalid("'stream' must be a boolean") }
            request.stream = flag
        }
        if let options = members.streamOptions, tape.kind(options) != .null {
            guard tape.kind(options) == .object else { throw Invalid("'stream_options' must be an object") }
            if let include = tape.member(options, "include_usage"), let flag = bool(tape, include) { request.streamUsageRequested = flag }
        }
        // Every output limit named bounds the call: a provider may honour any one of them, so the
        // largest is the bound (never the smallest).
        try readOutputLimit(tape, members.maxTokens, "max_tokens", into: &request)
        try readOutputLimit(tape, members.maxCompletionTokens, "max_completion_tokens", into: &request)
        try readOutputLimit(tape, members.maxOutputTokens, "max_output_tokens", into: &request)
        // Multipliers of billed output: each choice may use the whole output limit.
        try readChoices(tape, members.n, "n", into: &request)
        try readChoices(tape, members.bestOf, "best_of", into: &request)
        switch endpoint {
        case .chatCompletions: try readMessages(tape, members, into: &request)
        case .embeddings: try readEmbeddingInput(tape, members, into: &request)
        case .responses: try readResponsesInput(tape, members, into: &request)
        }
        try readTools(tape, members.tools, "tools", into: &request)
        try readTools(tape, members.functions, "functions", into: &request)
        // Other members the provider turns into prompt (schemas, predicted output, the tool
        // choice): their canonical text, keys and all.
        countAsPrompt(tape, members.responseFormat, into: &request)
        countAsPrompt(tape, members.prediction, into: &request)
        countAsPrompt(tape, members.text, into: &request)
        countAsPrompt(tape, members.toolChoice, into: &request)
        return request
    }

    private static func countAsPrompt(_ tape: JSONTape, _ key: Int?, into request: inout CallRequest) {
        guard let key, tape.kind(key) != .null else { return }
        request.promptBytes &+= Int64(tape.value(key).canonicalText.utf8.count)
    }

    /// The root members admission reads, found in one pass over the root object (the parser has
    /// already refused duplicate keys).
    private struct RootMembers {
        var model: Int?, stream: Int?, streamOptions: Int?
        var maxTokens: Int?, maxCompletionTokens: Int?, maxOutputTokens: Int?, n: Int?, bestOf: Int?
        var messages: Int?, input: Int?, instructions: Int?
        var tools: Int?, functions: Int?, responseFormat: Int?, prediction: Int?, text: Int?, toolChoice: Int?
        var previousResponseID: Int?, conversation: Int?, prompt: Int?

        init(_ tape: JSONTape) {
            var key = JSONTape.root + 1
            for _ in 0..<tape.nodes[JSONTape.root].count {
                let value = key + 1
                // Most keys are told apart by their length before any byte is compared.
                switch tape.nodes[key].escaped ? -1 : tape.nodes[key].end - tape.nodes[key].start {
                case 1: if tape.textEquals(key, "n") { n = value }
                case 4: if tape.textEquals(key, "text") { text = value }
                case 5:
                    if tape.textEquals(key, "model") { model = value }
                    else if tape.textEquals(key, "input") { input = value }
                    else if tape.textEquals(key, "tools") { tools = value }
                case 6:
                    if tape.textEquals(key, "stream") { stream = value }
                    else if tape.textEquals(key, "prompt") { prompt = value }
                case 7: if tape.textEquals(key, "best_of") { bestOf = value }
                case 8: if tape.textEquals(key, "messages") { messages = value }
                case 9: if tape.textEquals(key, "functions") { functions = value }
                case 10:
                    if tape.textEquals(key, "max_tokens") { maxTokens = value }
                    else if tape.textEquals(key, "prediction") { prediction = value }
                case 11: if tape.textEquals(key, "tool_choice") { toolChoice = value }
                case 12:
                    if tape.textEquals(key, "instructions") { instructions = value }
                    else if tape.textEquals(key, "conversation") { conversation = value }
                case 14: if tape.textEquals(key, "stream_options") { streamOptions = value }
                case 15: if tape.textEquals(key, "response_format") { responseFormat = value }
                case 17: if tape.textEquals(key, "max_output_tokens") { maxOutputTokens = value }
                case 20: if tape.textEquals(key, "previous_response_id") { previousResponseID = value }
                case 21: if tape.textEquals(key, "max_completion_tokens") { maxCompletionTokens = value }
                case -1: escapedKey(tape, key, value)
                default: break
                }
                key = tape.nodes[value].next
            }
        }

        /// A key written with escapes: compared with every name (rare).
        private mutating func escapedKey(_ tape: JSONTape, _ key: Int, _ value: Int) {
            if tape.textEquals(key, "model") { model = value }
            if tape.textEquals(key, "stream") { stream = value }
            if tape.textEquals(key, "stream_options") { streamOptions = value }
            if tape.textEquals(key, "max_tokens") { maxTokens = value }
            if tape.textEquals(key, "max_completion_tokens") { maxCompletionTokens = value }
            if tape.textEquals(key, "max_output_tokens") { maxOutputTokens = value }
            if tape.textEquals(key, "n") { n = value }
            if tape.textEquals(key, "best_of") { bestOf = value }
            if tape.textEquals(key, "messages") { messages = value }
            if tape.textEquals(key, "input") { input = value }
            if tape.textEquals(key, "instructions") { instructions = value }
            if tape.textEquals(key, "tools") { tools = value }
            if tape.textEquals(key, "functions") { functions = value }
            if tape.textEquals(key, "response_format") { responseFormat = value }
            if tape.textEquals(key, "prediction") { prediction = value }
            if tape.textEquals(key, "text") { text = value }
            if tape.textEquals(key, "tool_choice") { toolChoice = value }
            if tape.textEquals(key, "previous_response_id") { previousResponseID = value }
            if tape.textEquals(key, "conversation") { conversation = value }
            if tape.textEquals(key, "prompt") { prompt = value }
        }
    }

    private static func readOutputLimit(_ tape: JSONTape, _ key: Int?, _ name: StaticString, into request: inout CallRequest) throws(Invalid) {
        guard let key, tape.kind(key) != .null else { return }
        guard let value = tape.int(key), value >= 1 else { throw Invalid("'\(name)' must be a positive integer") }
        request.requestedMaxTokens = max(request.requestedMaxTokens ?? value, value)
    }

    private static func readChoices(_ tape: JSONTape, _ key: Int?, _ name: StaticString, into request: inout CallRequest) throws(Invalid) {
        guard let key, tape.kind(key) != .null else { return }
        guard let value = tape.int(key), value >= 1, value <= CallRequest.choicesMax else {
            throw Invalid("'\(name)' must be an integer from 1 to \(CallRequest.choicesMax)")
        }
        request.choices = max(request.choices, value)
    }

    private static func readTools(_ tape: JSONTape, _ key: Int?, _ name: StaticString, into request: inout CallRequest) throws(Invalid) {
        guard let tools = key else { return }
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

    private static func bool(_ tape: JSONTape, _ node: Int) -> Bool? {
        switch tape.kind(node) {
        case .true: true
        case .false: false
        default: nil
        }
    }

    private static func readMessages(_ tape: JSONTape, _ members: RootMembers, into request: inout CallRequest) throws(Invalid) {
        guard let messages = members.messages, tape.kind(messages) == .array else {
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

    private static func readEmbeddingInput(_ tape: JSONTape, _ members: RootMembers, into request: inout CallRequest) throws(Invalid) {
        try readInput(tape, members.input, into: &request) { (item: Int, request: inout CallRequest) throws(Invalid) in
            switch tape.kind(item) {
            case .string: request.promptBytes &+= Int64(tape.nodes[item].count)
            case .array: request.promptBytes &+= Int64(tape.nodes[item].count)  // token ids: one token each
            case .integer: request.promptBytes &+= 1
            default: throw Invalid("'input' items must be strings or token lists")
            }
        }
    }

    private static func readResponsesInput(_ tape: JSONTape, _ members: RootMembers, into request: inout CallRequest) throws(Invalid) {
        try readInput(tape, members.input, into: &request) { (item: Int, request: inout CallRequest) throws(Invalid) in
            guard tape.kind(item) == .object else { throw Invalid("'input' items must be objects") }
            if let content = tape.member(item, "content"), tape.kind(content) == .array {
                tape.forEachItem(content) { part in
                    if tape.kind(part) == .object, isImagePart(tape, part) { request.hasImages = true }
                }
            }
            request.promptBytes &+= tape.stringValueBytes(item)
        }
        if let instructions = members.instructions, tape.kind(instructions) == .string {
            request.promptBytes &+= Int64(tape.nodes[instructions].count)
        }
        // Prompt the provider keeps (an earlier response, a conversation, a stored prompt) is not in
        // the body, so no reservation could bound it.
        try refuseKeptPrompt(tape, members.previousResponseID, "previous_response_id")
        try refuseKeptPrompt(tape, members.conversation, "conversation")
        try refuseKeptPrompt(tape, members.prompt, "prompt")
    }

    private static func refuseKeptPrompt(_ tape: JSONTape, _ key: Int?, _ name: StaticString) throws(Invalid) {
        guard let key, tape.kind(key) != .null else { return }
        throw Invalid("'\(name)' is not accepted: the prompt it adds is kept by the provider, so AEX cannot bound its cost; send the whole conversation in 'input'")
    }

    /// `input`: a string (one item) or a non-empty list, each of whose items `readItem` measures.
    private static func readInput(
        _ tape: JSONTape, _ input: Int?, into request: inout CallRequest, _ readItem: (Int, inout CallRequest) throws(Invalid) -> Void
    ) throws(Invalid) {
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
