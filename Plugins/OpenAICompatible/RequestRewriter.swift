/// The endpoints this plugin serves; raw values are the ABI's `aex_endpoint`.
enum OpenAIEndpoint: UInt32, Sendable, CaseIterable {
    case chatCompletions = 1 // AEX_ENDPOINT_CHAT_COMPLETIONS
    case embeddings = 2      // AEX_ENDPOINT_EMBEDDINGS
    case responses = 3       // AEX_ENDPOINT_RESPONSES

    /// The upstream path, appended by the host to the provider's base URL.
    var path: StaticString {
        switch self {
        case .chatCompletions: "/chat/completions"
        case .embeddings: "/embeddings"
        case .responses: "/responses"
        }
    }

    /// The request member that caps output tokens; embeddings produce none.
    var outputLimitKey: StaticString? {
        switch self {
        case .chatCompletions: "max_tokens"
        case .embeddings: nil
        case .responses: "max_output_tokens"
        }
    }
}

/// Turns the client's request body into the upstream body. The body is forwarded byte for byte
/// except for these edits, made at the top level of the object only:
/// - every `"model"` value becomes the provider model (JSON-escaped); with no `model` key,
///   `"model":"<provider model>"` is added;
/// - with `maxOutputTokens > 0`: chat gets `"max_tokens":N`, responses `"max_output_tokens":N`
///   (embeddings never); the host passes a limit only when the request named none, and should the
///   key be there anyway its value is replaced, so the cap holds and no key is written twice;
/// - chat with `stream` and `includeStreamUsage`: `"stream_options":{"include_usage":true}`,
///   replacing any `stream_options` value.
/// Added members go right after the last member's value (with a `,` first) or, in an empty object,
/// right after the `{`: before the final `}` either way. All other bytes, whitespace and order are kept.
enum RequestRewriter {
    static func rewrite(body: UnsafeRawBufferPointer, endpoint: OpenAIEndpoint, providerModel: UnsafeRawBufferPointer,
                        maxOutputTokens: Int64, stream: Bool, includeStreamUsage: Bool) -> [UInt8]? {
        guard let layout = JSONTopLevelScanner.scan(body) else { return nil }
        let limitKey = maxOutputTokens > 0 ? endpoint.outputLimitKey : nil
        let wantsStreamUsage = stream && includeStreamUsage && endpoint == .chatCompletions

        var out: [UInt8] = []
        out.reserveCapacity(body.count + 2 * providerModel.count + 96)
        var cursor = 0
        var sawModel = false, sawLimit = false, sawStreamOptions = false
        for member in layout.members {
            if JSONTopLevelScanner.keyEquals(body, member, "model") {
                JSONWriter.append(body, cursor..<member.value.lowerBound, to: &out)
                JSONWriter.appendString(providerModel, to: &out)
                sawModel = true
            } else if let limitKey, JSONTopLevelScanner.keyEquals(body, member, limitKey) {
                JSONWriter.append(body, cursor..<member.value.lowerBound, to: &out)
                JSONWriter.appendInteger(maxOutputTokens, to: &out)
                sawLimit = true
            } else if wantsStreamUsage, JSONTopLevelScanner.keyEquals(body, member, "stream_options") {
                JSONWriter.append(body, cursor..<member.value.lowerBound, to: &out)
                JSONWriter.appendStatic(streamOptionsValue, to: &out)
                sawStreamOptions = true
            } else {
                continue
            }
            cursor = member.value.upperBound
        }

        // Every replaced value ends at or before the last member's end, where additions go.
        let insertion = layout.members.last?.value.upperBound ?? (layout.open + 1)
        JSONWriter.append(body, cursor..<insertion, to: &out)
        var separate = !layout.members.isEmpty
        if !sawModel {
            JSONWriter.appendKey("model", separate: &separate, to: &out)
            JSONWriter.appendString(providerModel, to: &out)
        }
        if let limitKey, !sawLimit {
            JSONWriter.appendKey(limitKey, separate: &separate, to: &out)
            JSONWriter.appendInteger(maxOutputTokens, to: &out)
        }
        if wantsStreamUsage, !sawStreamOptions {
            JSONWriter.appendKey("stream_options", separate: &separate, to: &out)
            JSONWriter.appendStatic(streamOptionsValue, to: &out)
        }
        JSONWriter.append(body, insertion..<body.count, to: &out)
        return out
    }

    /// Convenience for callers holding arrays (tests).
    static func rewrite(body: [UInt8], endpoint: OpenAIEndpoint, providerModel: String,
                        maxOutputTokens: Int64 = 0, stream: Bool = false, includeStreamUsage: Bool = false) -> [UInt8]? {
        var model = providerModel
        return body.withUnsafeBytes { bodyBytes in
            model.withUTF8 { modelBytes in
                rewrite(body: bodyBytes, endpoint: endpoint, providerModel: UnsafeRawBufferPointer(modelBytes),
                        maxOutputTokens: maxOutputTokens, stream: stream, includeStreamUsage: includeStreamUsage)
            }
        }
    }

    private static let streamOptionsValue: StaticString = #"{"include_usage":true}"#
}

/// Appends JSON pieces to a byte array. Shared by both rewriters.
enum JSONWriter {
    @inline(__always)
    static func append(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, to out: inout [UInt8]) {
        guard !range.isEmpty else { return }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[range]))
    }

    @inline(__always)
    static func appendStatic(_ s: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// `,"key":` (the comma only when `separate`, which is then set for the next member).
    static func appendKey(_ key: StaticString, separate: inout Bool, to out: inout [UInt8]) {
        if separate { out.append(JSONByte.comma) }
        separate = true
        out.append(JSONByte.quote)
        appendStatic(key, to: &out)
        out.append(JSONByte.quote)
        out.append(JSONByte.colon)
    }

    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }

    /// `s` as a JSON string: quotes, backslashes and control bytes escaped; other bytes (UTF-8) kept.
    static func appendString(_ s: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(JSONByte.quote)
        var plain = true
        for c in s where c == JSONByte.quote || c == JSONByte.backslash || c < 0x20 {
            plain = false
            break
        }
        if plain {
            out.append(contentsOf: s)
        } else {
            let hex: StaticString = "0123456789abcdef"
            for c in s {
                switch c {
                case JSONByte.quote, JSONByte.backslash:
                    out.append(JSONByte.backslash)
                    out.append(c)
                case JSONByte.newline: out.append(JSONByte.backslash); out.append(UInt8(ascii: "n"))
                case JSONByte.carriageReturn: out.append(JSONByte.backslash); out.append(UInt8(ascii: "r"))
                case JSONByte.tab: out.append(JSONByte.backslash); out.append(UInt8(ascii: "t"))
                case 0..<0x20:
                    out.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                            hex.utf8Start[Int(c >> 4)], hex.utf8Start[Int(c & 0xF)]])
                default:
                    out.append(c)
                }
            }
        }
        out.append(JSONByte.quote)
    }
}
