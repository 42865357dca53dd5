/// One event of a streamed chat completion: the chunk with the alias as `model`, its usage when it
/// reports one, and whether it is the usage-only chunk (`"choices": []`) that
/// `stream_options.include_usage` adds at the end.
enum StreamRewriter {
    struct Chunk: Equatable, Sendable {
        var data: [UInt8]
        var usage: ResponseRewriter.Usage
        var usageOnly: Bool
    }

    /// nil when the event data is not one well-formed JSON object.
    static func translate(data: UnsafeRawBufferPointer, modelAlias: UnsafeRawBufferPointer) -> Chunk? {
        guard let layout = JSONTopLevelScanner.scan(data) else { return nil }
        let translation = ResponseRewriter.translate(body: data, layout: layout, endpoint: .chatCompletions, modelAlias: modelAlias)
        var choicesEmpty = false
        if let choices = JSONTopLevelScanner.lastMember(data, layout, "choices") {
            // `[` then only whitespace before `]` (checked without copying a long array's bytes).
            let value = data[choices.value]
            choicesEmpty = value.first == JSONByte.openBracket
                && value.dropFirst().first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0a && $0 != 0x0d } == JSONByte.closeBracket
        }
        let hasUsage = translation.usage != .unknown
        return Chunk(data: translation.body, usage: translation.usage, usageOnly: choicesEmpty && hasUsage)
    }

    /// One event of a streamed Responses API answer: the `response` object some events carry gets
    /// the alias as `model`, and its usage (`response.completed`) is reported. Never usage-only.
    static func translateResponsesEvent(data: UnsafeRawBufferPointer, modelAlias: UnsafeRawBufferPointer) -> Chunk? {
        guard let layout = JSONTopLevelScanner.scan(data) else { return nil }
        guard let response = JSONTopLevelScanner.lastMember(data, layout, "response"),
              data[response.value.lowerBound] == JSONByte.openBrace else {
            return Chunk(data: Array(data), usage: .unknown, usageOnly: false)
        }
        let inner = UnsafeRawBufferPointer(rebasing: data[response.value])
        guard let translated = ResponseRewriter.translate(body: inner, endpoint: .responses, modelAlias: modelAlias) else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(data.count + modelAlias.count)
        out.append(contentsOf: data[0..<response.value.lowerBound])
        out.append(contentsOf: translated.body)
        out.append(contentsOf: data[response.value.upperBound...])
        return Chunk(data: out, usage: translated.usage, usageOnly: false)
    }

    static func translate(data: [UInt8], modelAlias: String) -> Chunk? {
        var alias = modelAlias
        return data.withUnsafeBytes { bytes in
            alias.withUTF8 { translate(data: bytes, modelAlias: UnsafeRawBufferPointer($0)) }
        }
    }
}
