/// Turns a provider's 2xx answer into the client's body and the call's usage.
/// - The client body is the upstream body byte for byte, except every top-level `"model"` value,
///   which becomes the AEX model alias (JSON-escaped). Nothing is added when there is no `model`.
/// - Usage comes from the top-level `usage` object: `prompt_tokens` / `completion_tokens` for chat
///   completions and embeddings (embeddings report no completion tokens: 0), `input_tokens` /
///   `output_tokens` for the Responses API.
enum ResponseRewriter {
    /// Token counts as the provider reported them. `-1` in both fields means unknown: the provider
    /// sent no usable `usage` (absent, `null`, a count missing, negative or not an integer). The host
    /// treats unknown usage as "charge the reserved amount", so a missing report never undercharges.
    struct Usage: Equatable, Sendable {
        var promptTokens: Int64
        var completionTokens: Int64

        static let unknown = Usage(promptTokens: -1, completionTokens: -1)
    }

    struct Translation: Equatable, Sendable {
        var body: [UInt8]
        var usage: Usage
    }

    /// nil when the upstream body is not one well-formed JSON object.
    static func translate(body: UnsafeRawBufferPointer, endpoint: OpenAIEndpoint,
                          modelAlias: UnsafeRawBufferPointer) -> Translation? {
        guard let layout = JSONTopLevelScanner.scan(body) else { return nil }
        return translate(body: body, layout: layout, endpoint: endpoint, modelAlias: modelAlias)
    }

    /// The same, for a body already scanned.
    static func translate(body: UnsafeRawBufferPointer, layout: JSONTopLevelScanner.Layout, endpoint: OpenAIEndpoint,
                          modelAlias: UnsafeRawBufferPointer) -> Translation {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 2 * modelAlias.count)
        var cursor = 0
        for member in layout.members where JSONTopLevelScanner.keyEquals(body, member, "model") {
            JSONWriter.append(body, cursor..<member.value.lowerBound, to: &out)
            JSONWriter.appendString(modelAlias, to: &out)
            cursor = member.value.upperBound
        }
        JSONWriter.append(body, cursor..<body.count, to: &out)
        return Translation(body: out, usage: usage(body, layout, endpoint))
    }

    /// Convenience for callers holding arrays (tests).
    static func translate(body: [UInt8], endpoint: OpenAIEndpoint, modelAlias: String) -> Translation? {
        var alias = modelAlias
        return body.withUnsafeBytes { bodyBytes in
            alias.withUTF8 { translate(body: bodyBytes, endpoint: endpoint, modelAlias: UnsafeRawBufferPointer($0)) }
        }
    }

    /// The usage reported in an already scanned body.
    static func usage(_ b: UnsafeRawBufferPointer, _ layout: JSONTopLevelScanner.Layout, _ endpoint: OpenAIEndpoint) -> Usage {
        guard let member = JSONTopLevelScanner.lastMember(b, layout, "usage"),
              b[member.value.lowerBound] == JSONByte.openBrace,
              let report = JSONTopLevelScanner.scanObject(b, in: member.value) else { return .unknown }
        let prompt: Int64?, completion: Int64?
        switch endpoint {
        case .chatCompletions:
            prompt = JSONTopLevelScanner.integerValue(b, report, forKey: "prompt_tokens")
            completion = JSONTopLevelScanner.integerValue(b, report, forKey: "completion_tokens")
        case .embeddings:
            prompt = JSONTopLevelScanner.integerValue(b, report, forKey: "prompt_tokens")
            completion = JSONTopLevelScanner.lastMember(b, report, "completion_tokens") == nil
                ? 0 : JSONTopLevelScanner.integerValue(b, report, forKey: "completion_tokens")
        case .responses:
            prompt = JSONTopLevelScanner.integerValue(b, report, forKey: "input_tokens")
            completion = JSONTopLevelScanner.integerValue(b, report, forKey: "output_tokens")
        }
        guard let prompt, let completion, prompt >= 0, completion >= 0 else { return .unknown }
        return Usage(promptTokens: prompt, completionTokens: completion)
    }
}
