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
        guard let translation = ResponseRewriter.translate(body: data, endpoint: .chatCompletions, modelAlias: modelAlias),
              let layout = JSONTopLevelScanner.scan(data) else { return nil }
        var choicesEmpty = false
        if let choices = JSONTopLevelScanner.lastMember(data, layout, "choices") {
            let value = data[choices.value]
            let inner = value.filter { $0 != 0x20 && $0 != 0x09 && $0 != 0x0a && $0 != 0x0d }
            choicesEmpty = inner.elementsEqual([JSONByte.openBracket, JSONByte.closeBracket])
        }
        let hasUsage = translation.usage != .unknown
        return Chunk(data: translation.body, usage: translation.usage, usageOnly: choicesEmpty && hasUsage)
    }

    static func translate(data: [UInt8], modelAlias: String) -> Chunk? {
        var alias = modelAlias
        return data.withUnsafeBytes { bytes in
            alias.withUTF8 { translate(data: bytes, modelAlias: UnsafeRawBufferPointer($0)) }
        }
    }
}
