import AEXPluginAPI
import Testing
@testable import OpenAICompatible

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
private func text(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }

private func rewrite(_ body: String, _ endpoint: OpenAIEndpoint = .chatCompletions, model: String = "p",
                     max: Int64 = 0, stream: Bool = false, include: Bool = false) -> String? {
    text(RequestRewriter.rewrite(body: bytes(body), endpoint: endpoint, providerModel: model,
                                 maxOutputTokens: max, stream: stream, includeStreamUsage: include))
}

private func translate(_ body: String, _ endpoint: OpenAIEndpoint = .chatCompletions,
                       alias: String = "smart") -> ResponseRewriter.Translation? {
    ResponseRewriter.translate(body: bytes(body), endpoint: endpoint, modelAlias: alias)
}

private func withScan<T>(_ body: String, _ f: (UnsafeRawBufferPointer, JSONTopLevelScanner.Layout?) -> T) -> T {
    bytes(body).withUnsafeBytes { f($0, JSONTopLevelScanner.scan($0)) }
}

@Suite struct OpenAICompatibleRequestTests {
    @Test func modelReplacedAndEveryOtherByteKept() {
        let body = "{ \"model\" : \"gpt-4o\" ,\n  \"messages\": [{\"role\":\"user\",\"content\":\"hi\"}],\t\"temperature\": 0.5 }"
        #expect(rewrite(body, model: "gpt-4o-2024-08-06")
            == "{ \"model\" : \"gpt-4o-2024-08-06\" ,\n  \"messages\": [{\"role\":\"user\",\"content\":\"hi\"}],\t\"temperature\": 0.5 }")
        #expect(rewrite(#"{"messages":[],"model":"a"}"#) == #"{"messages":[],"model":"p"}"#)
    }

    @Test func modelInsertedWhenMissing() {
        #expect(rewrite(#"{"messages":[]}"#) == #"{"messages":[],"model":"p"}"#)
        #expect(rewrite("{\"a\":1 \n}") == "{\"a\":1,\"model\":\"p\" \n}")
        #expect(rewrite("{}") == #"{"model":"p"}"#)
        #expect(rewrite(" { } ") == #" {"model":"p" } "#)
        #expect(rewrite(#"{"models":"x","modelx":1,"a\"model":2}"#) == #"{"models":"x","modelx":1,"a\"model":2,"model":"p"}"#)
    }

    @Test func providerModelIsJSONEscaped() {
        #expect(rewrite(#"{"model":"m"}"#, model: "we\"ird\\name\n\u{1}é") == #"{"model":"we\"ird\\name\n\u0001é"}"#)
    }

    @Test func outputLimitAddedOnlyWhenAskedAndNeverForEmbeddings() {
        #expect(rewrite(#"{"model":"m","messages":[]}"#, max: 256) == #"{"model":"p","messages":[],"max_tokens":256}"#)
        #expect(rewrite(#"{"model":"m","input":"hi"}"#, .responses, max: 100) == #"{"model":"p","input":"hi","max_output_tokens":100}"#)
        #expect(rewrite(#"{"model":"m","input":"x"}"#, .embeddings, max: 100) == #"{"model":"p","input":"x"}"#)
        #expect(rewrite(#"{"model":"m","messages":[]}"#, max: 0) == #"{"model":"p","messages":[]}"#)
        #expect(rewrite(#"{"model":"m","messages":[]}"#, max: -5) == #"{"model":"p","messages":[]}"#)
        #expect(rewrite("{}", max: 5) == #"{"model":"p","max_tokens":5}"#)
        // The host passes a limit only when the request named none; should it be there, the cap still holds, once.
        #expect(rewrite(#"{"model":"m","max_tokens":9000}"#, max: 100) == #"{"model":"p","max_tokens":100}"#)
        // A nested max_tokens is not the request's limit.
        #expect(rewrite(#"{"model":"m","x":{"max_tokens":1}}"#, max: 9) == #"{"model":"p","x":{"max_tokens":1},"max_tokens":9}"#)
    }

    @Test func streamOptionsAddedAndReplacedForChatStreamsAskingForUsage() {
        #expect(rewrite(#"{"model":"m","stream":true}"#, stream: true, include: true)
            == #"{"model":"p","stream":true,"stream_options":{"include_usage":true}}"#)
        #expect(rewrite(#"{"model":"m","stream":true,"stream_options":{"include_usage":false}, "n":1}"#, stream: true, include: true)
            == #"{"model":"p","stream":true,"stream_options":{"include_usage":true}, "n":1}"#)
        #expect(rewrite(#"{"stream_options":null}"#, stream: true, include: true) == #"{"stream_options":{"include_usage":true},"model":"p"}"#)
        #expect(rewrite(#"{"model":"m"}"#, stream: true, include: false) == #"{"model":"p"}"#)
        #expect(rewrite(#"{"model":"m"}"#, stream: false, include: true) == #"{"model":"p"}"#)
        #expect(rewrite(#"{"model":"m","stream_options":{}}"#, .responses, stream: true, include: true) == #"{"model":"p","stream_options":{}}"#)
        #expect(rewrite(#"{"model":"m"}"#, .embeddings, stream: true, include: true) == #"{"model":"p"}"#)
        #expect(rewrite(#"{"stream":true}"#, max: 7, stream: true, include: true)
            == #"{"stream":true,"model":"p","max_tokens":7,"stream_options":{"include_usage":true}}"#)
    }

    @Test func stringsAndNestedValuesDoNotConfuseTheScanner() {
        let body = #"{"messages":[{"role":"user","content":"say \"model\": {\"x\"} ]] }"}],"metadata":{"model":"nested","a":["{"]},"model":"m","tail":"\\"}"#
        #expect(rewrite(body) == #"{"messages":[{"role":"user","content":"say \"model\": {\"x\"} ]] }"}],"metadata":{"model":"nested","a":["{"]},"model":"p","tail":"\\"}"#)
        #expect(rewrite(#"{"metadata":{"model":"nested"}}"#) == #"{"metadata":{"model":"nested"},"model":"p"}"#)
    }

    @Test func escapedAndRepeatedModelKeysAreAllRewritten() {
        #expect(rewrite(#"{"mod\u0065l":"sneaky","messages":[]}"#) == #"{"mod\u0065l":"p","messages":[]}"#)
        #expect(rewrite(#"{"model":"a","model":"b"}"#) == #"{"model":"p","model":"p"}"#)
        #expect(rewrite(#"{"model":null}"#) == #"{"model":"p"}"#)
    }

    @Test func malformedBodiesAreRefused() {
        for body in ["", "[]", "\"model\"", "{\"model\":\"m\"", "{\"model\":\"m}", "{\"model\":\"m\"} x", "{\"a\":[}"] {
            #expect(rewrite(body) == nil, "\(body)")
        }
    }

    @Test func endpointsMatchTheABI() {
        #expect(OpenAIEndpoint(rawValue: AEX_ENDPOINT_CHAT_COMPLETIONS.rawValue) == .chatCompletions)
        #expect(OpenAIEndpoint(rawValue: AEX_ENDPOINT_EMBEDDINGS.rawValue) == .embeddings)
        #expect(OpenAIEndpoint(rawValue: AEX_ENDPOINT_RESPONSES.rawValue) == .responses)
        #expect(OpenAIEndpoint(rawValue: 0) == nil)
        #expect(OpenAIEndpoint(rawValue: 4) == nil)
        #expect(OpenAIEndpoint.allCases.map { "\($0.path)" } == ["/chat/completions", "/embeddings", "/responses"])
    }
}

@Suite struct OpenAICompatibleResponseTests {
    @Test func chatUsageAndAlias() throws {
        let body = #"{"id":"c1","object":"chat.completion","model":"gpt-4o-2024","choices":[{"index":0,"message":{"role":"assistant","content":"{\"usage\":{\"prompt_tokens\":999},\"model\":\"x\"}"}}],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46,"completion_tokens_details":{"reasoning_tokens":0}}}"#
        let t = try #require(translate(body))
        #expect(text(t.body) == body.replacingFirst(#""model":"gpt-4o-2024""#, with: #""model":"smart""#))
        #expect(t.usage == .init(promptTokens: 12, completionTokens: 34))
    }

    @Test func embeddingsUsageHasNoCompletionTokens() throws {
        let body = #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2e-3]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#
        let t = try #require(translate(body, .embeddings, alias: "embed"))
        #expect(text(t.body) == body.replacingFirst(#""model":"text-embedding-3-small""#, with: #""model":"embed""#))
        #expect(t.usage == .init(promptTokens: 8, completionTokens: 0))
    }

    @Test func responsesUsage() throws {
        let body = #"{"id":"resp_1","object":"response","model":"gpt-4.1","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"total_tokens":25}}"#
        let t = try #require(translate(body, .responses))
        #expect(text(t.body) == body.replacingFirst(#""model":"gpt-4.1""#, with: #""model":"smart""#))
        #expect(t.usage == .init(promptTokens: 20, completionTokens: 5))
    }

    @Test func unusableUsageIsUnknown() throws {
        let unknown = ResponseRewriter.Usage.unknown
        #expect(unknown == .init(promptTokens: -1, completionTokens: -1))
        #expect(try #require(translate(#"{"model":"m","choices":[]}"#)).usage == unknown)
        #expect(try #require(translate(#"{"usage":null}"#)).usage == unknown)
        #expect(try #require(translate(#"{"usage":{"prompt_tokens":"12","completion_tokens":3}}"#)).usage == unknown)
        #expect(try #require(translate(#"{"usage":{"prompt_tokens":-1,"completion_tokens":3}}"#)).usage == unknown)
        #expect(try #require(translate(#"{"usage":{"prompt_tokens":1.5,"completion_tokens":3}}"#)).usage == unknown)
        #expect(try #require(translate(#"{"usage":{"prompt_tokens":4}}"#)).usage == unknown)
        #expect(try #require(translate(#"{"usage":{"input_tokens":4,"output_tokens":2}}"#)).usage == unknown)
        #expect(try #require(translate(#"{"usage":{"prompt_tokens":4,"completion_tokens":2}}"#, .responses)).usage == unknown)
        #expect(try #require(translate(#"{"x":{"usage":{"prompt_tokens":4,"completion_tokens":2}}}"#)).usage == unknown)
        // A repeated key: the last one counts, as in common JSON parsers.
        #expect(try #require(translate(#"{"usage":{"prompt_tokens":1,"completion_tokens":1},"usage":{"prompt_tokens":4,"completion_tokens":2}}"#)).usage
            == .init(promptTokens: 4, completionTokens: 2))
    }

    @Test func nothingAddedWithoutModelAndAliasEscaped() throws {
        let body = " {\"id\":\"x\",\n\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}} "
        #expect(text(try #require(translate(body)).body) == body)
        #expect(text(try #require(translate(#"{"model":"m"}"#, alias: "a\"b")).body) == #"{"model":"a\"b"}"#)
        #expect(text(try #require(translate(#"{"model":"m","x":{"model":"m"}}"#)).body) == #"{"model":"smart","x":{"model":"m"}}"#)
    }

    @Test func malformedUpstreamIsRefused() {
        for body in ["", "not json", "[{\"model\":\"m\"}]", "{\"model\":\"m\",\"usage\":{\"prompt_tokens\":1}", "{\"model\":\"m\"}{}", "<html>"] {
            #expect(translate(body) == nil, "\(body)")
        }
    }
}

@Suite struct OpenAICompatibleScannerTests {
    @Test func membersAndRanges() throws {
        let body = #"  {"a" : 1 , "b":"x\"y", "c":{"d":[1,{"e":"}"}]},"f":[],"g":-1.5e+10,"h":true}  "#
        withScan(body) { b, layout in
            guard let layout else { Issue.record("not scanned"); return }
            let s = { (r: Range<Int>) in String(decoding: UnsafeRawBufferPointer(rebasing: b[r]), as: UTF8.self) }
            #expect(layout.members.map { s($0.key) } == ["a", "b", "c", "f", "g", "h"])
            #expect(layout.members.map { s($0.value) } == ["1", #""x\"y""#, #"{"d":[1,{"e":"}"}]}"#, "[]", "-1.5e+10", "true"])
            #expect(b[layout.open] == UInt8(ascii: "{") && b[layout.close] == UInt8(ascii: "}"))
            #expect(layout.close == b.count - 3)
        }
        #expect(JSONTopLevelScanner.scan(bytes("{}"))?.members.isEmpty == true)
        #expect(JSONTopLevelScanner.scan(bytes(#"{"a":"\\"}"#))?.members.count == 1)
        // Runs of backslashes: a quote after an odd run is content, after an even run it ends the string.
        withScan(#"{"a":"x\\\"y\\","b":["\\\\"],"\"":1}"#) { b, layout in
            #expect(layout?.members.map { String(decoding: UnsafeRawBufferPointer(rebasing: b[$0.value]), as: UTF8.self) }
                == [#""x\\\"y\\""#, #"["\\\\"]"#, "1"])
        }
        #expect(JSONTopLevelScanner.scan(bytes(#"{"a":"\\\"}"#)) == nil)
        #expect(JSONTopLevelScanner.scan(bytes(#"{"a":{{{}}}}"#)) != nil) // nested structure is skipped, not checked
    }

    @Test(arguments: [
        "", " ", "[]", "\"x\"", "1", "null", "{", "{\"a\":1", "{\"a\":\"x}", "{\"a\":[1,2}", "{\"a\":{]}",
        "{\"a\":1}x", "{\"a\":1}}", "{\"a\":1} {}", "{a:1}", "{\"a\" 1}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}",
        "{,}", "{\"a\":1,,\"b\":2}", "{\"a\":[}", "{\"a\":\"\\\"}", "{\"a\":1]}", "{\"a\":]}", "{\"a\":tru e}",
        "{\"a\":[\"]\"}", "{\"a\":1:2}", "{\"a\"}", "{\"a\":{\"b\":1}]}", "}", "{\"a\\", "\u{FEFF}{}",
    ])
    func malformedIsNil(_ body: String) {
        #expect(JSONTopLevelScanner.scan(bytes(body)) == nil)
    }

    @Test func deepNestingBeyondOneWord() {
        let deep = "{\"a\":" + String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "}"
        #expect(JSONTopLevelScanner.scan(bytes(deep))?.members.count == 1)
        for k in [5, 90, 299] { // closes level 294 (overflow array), 209, and 0
            var b = bytes(deep)
            b[5 + 300 + k] = UInt8(ascii: "}")
            #expect(JSONTopLevelScanner.scan(b) == nil)
        }
        let mixed = "{\"a\":" + String(repeating: "{\"k\":[", count: 100) + String(repeating: "]}", count: 100) + "}"
        #expect(JSONTopLevelScanner.scan(bytes(mixed)) != nil)
        #expect(JSONTopLevelScanner.scan(bytes(mixed.replacingFirst("]}]}", with: "}]]}"))) == nil)
    }

    @Test func integers() {
        let cases: [(String, Int64?)] = [
            ("0", 0), ("-5", -5), ("42", 42), ("9223372036854775807", .max), ("-9223372036854775808", .min),
            ("9223372036854775808", nil), ("1.0", nil), ("\"1\"", nil), ("1e3", nil), ("-", nil), ("null", nil),
        ]
        for (value, expected) in cases {
            withScan("{\"n\":\(value)}") { b, layout in
                #expect(layout.flatMap { JSONTopLevelScanner.integerValue(b, $0, forKey: "n") } == expected, "\(value)")
            }
        }
        withScan(#"{"m":1}"#) { b, layout in #expect(layout.flatMap { JSONTopLevelScanner.integerValue(b, $0, forKey: "n") } == nil) }
    }

    @Test func stringsDecode() {
        withScan(#"{"s":"a\nb\u00e9\ud83d\ude00\\\/","lone":"\ud800x","bad":"\q","n":1,"e":""}"#) { b, layout in
            guard let layout else { Issue.record("not scanned"); return }
            #expect(JSONTopLevelScanner.stringValue(b, layout, forKey: "s") == bytes("a\nbé😀\\/"))
            #expect(JSONTopLevelScanner.stringValue(b, layout, forKey: "lone") == [0xEF, 0xBF, 0xBD, UInt8(ascii: "x")])
            #expect(JSONTopLevelScanner.stringValue(b, layout, forKey: "bad") == nil)
            #expect(JSONTopLevelScanner.stringValue(b, layout, forKey: "n") == nil)
            #expect(JSONTopLevelScanner.stringValue(b, layout, forKey: "e") == [])
            #expect(JSONTopLevelScanner.stringValue(b, layout, forKey: "missing") == nil)
        }
        withScan(#"{"\u0073":"escaped key"}"#) { b, layout in
            #expect(layout.flatMap { JSONTopLevelScanner.stringValue(b, $0, forKey: "s") } == bytes("escaped key"))
        }
    }

    @Test func nestedIntegers() {
        withScan(#"{"x":{"usage":{"prompt_tokens":9}},"usage":{"prompt_tokens":3,"d":{"prompt_tokens":7}},"u":5}"#) { b, layout in
            guard let layout else { Issue.record("not scanned"); return }
            #expect(JSONTopLevelScanner.nestedInteger(b, layout, object: "usage", key: "prompt_tokens") == 3)
            #expect(JSONTopLevelScanner.nestedInteger(b, layout, object: "usage", key: "completion_tokens") == nil)
            #expect(JSONTopLevelScanner.nestedInteger(b, layout, object: "u", key: "prompt_tokens") == nil)
            #expect(JSONTopLevelScanner.nestedInteger(b, layout, object: "none", key: "prompt_tokens") == nil)
        }
    }

    /// 10,000 mutated request and response bodies: never a trap, and whatever is accepted rewrites
    /// into an object that scans again and carries the provider model.
    @Test func seededFuzzNeverCrashes() {
        var rng = SeededGenerator(seed: 0xAE_C0FF_EE)
        let seeds = [
            #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi \"there\" {x}"}],"stream":true,"stream_options":{"include_usage":false},"max_tokens":10}"#,
            #"{"id":"c","model":"m","choices":[{"message":{"content":"[]{}\\"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
            #"{"model":"e","input":["a","b"],"usage":{"prompt_tokens":3,"total_tokens":3}}"#,
            #"{"mod\u0065l":"r","input":[{"role":"user","content":[{"type":"input_text","text":"é😀"}]}],"usage":{"input_tokens":4,"output_tokens":5}}"#,
            " { \"a\" : [ 1 , -2.5e3 , true , null , { \"b\" : [ ] } ] } ",
        ].map(bytes)
        let structural = Array(#"{}[]",:\ u0"#.utf8)
        var accepted = 0
        for _ in 0..<10_000 {
            var b = seeds[Int(rng.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + rng.next() % 3) {
                let at = b.isEmpty ? 0 : Int(rng.next() % UInt64(b.count))
                switch rng.next() % 6 {
                case 0 where !b.isEmpty: b[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1 where !b.isEmpty: b[at] = structural[Int(rng.next() % UInt64(structural.count))]
                case 2: b.insert(structural[Int(rng.next() % UInt64(structural.count))], at: at)
                case 3 where !b.isEmpty: b.removeSubrange(at..<min(b.count, at + 1 + Int(rng.next() % 4)))
                case 4: b.removeSubrange(at..<b.count)
                default: b.insert(contentsOf: b[at..<min(b.count, at + Int(rng.next() % 8))], at: at)
                }
            }
            let layout = JSONTopLevelScanner.scan(b)
            b.withUnsafeBytes { raw in
                guard let layout else { return }
                for m in layout.members {
                    #expect(m.key.upperBound <= m.value.lowerBound && m.value.upperBound <= layout.close)
                    _ = JSONTopLevelScanner.integer(raw, m.value)
                    _ = JSONTopLevelScanner.decodeString(raw, m.key)
                }
            }
            for endpoint in OpenAIEndpoint.allCases {
                let out = RequestRewriter.rewrite(body: b, endpoint: endpoint, providerModel: "up\"stream",
                                                  maxOutputTokens: Int64(rng.next() % 3), stream: true, includeStreamUsage: true)
                #expect((out == nil) == (layout == nil))
                if let out {
                    out.withUnsafeBytes { raw in
                        let again = JSONTopLevelScanner.scan(raw)
                        #expect(again.flatMap { JSONTopLevelScanner.stringValue(raw, $0, forKey: "model") } == bytes("up\"stream"))
                    }
                }
                let translated = ResponseRewriter.translate(body: b, endpoint: endpoint, modelAlias: "alias")
                #expect((translated == nil) == (layout == nil))
            }
            if layout != nil { accepted += 1 }
        }
        #expect(accepted > 500 && accepted < 9_500) // the mutations reach both sides
    }
}


private extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        let s = Array(utf8), t = Array(target.utf8)
        guard t.count <= s.count else { return self }
        for i in 0...(s.count - t.count) where Array(s[i..<(i + t.count)]) == t {
            return String(decoding: s[..<i] + Array(replacement.utf8) + s[(i + t.count)...], as: UTF8.self)
        }
        return self
    }
}

// MARK: The C entry point, end to end

/// What the fake host's callbacks received. Only `entryPointEndToEnd` touches it.
private struct OACRecorder {
    var out: OpaquePointer?
    var method: String?
    var path: String?
    var headers: [String] = []
    var body: String?
    var usage: (Int64, Int64)?
    var error: String?
    var emitted: [String] = []
    var calls = 0
}

nonisolated(unsafe) private var oacRecorded = OACRecorder()

private func oacString(_ b: aex_bytes) -> String {
    guard let p = b.bytes, b.length > 0 else { return "" }
    return String(decoding: UnsafeBufferPointer(start: p, count: b.length), as: UTF8.self)
}

private func oacFakeHost(abiMajor: UInt16 = UInt16(AEX_PLUGIN_ABI_MAJOR), size: Int = MemoryLayout<aex_host_table>.size)
    -> UnsafeMutablePointer<aex_host_table> {
    let host = UnsafeMutablePointer<aex_host_table>.allocate(capacity: 1)
    host.initialize(to: aex_host_table(
        struct_size: UInt32(size), abi_major: abiMajor, abi_minor: UInt16(AEX_PLUGIN_ABI_MINOR),
        log: { _, _ in oacRecorded.calls += 1 },
        set_upstream: { out, method, path in
            oacRecorded.out = out; oacRecorded.method = oacString(method); oacRecorded.path = oacString(path); oacRecorded.calls += 1
        },
        add_upstream_header: { _, name, value in oacRecorded.headers.append("\(oacString(name)): \(oacString(value))"); oacRecorded.calls += 1 },
        set_body: { _, body in oacRecorded.body = oacString(body); oacRecorded.calls += 1 },
        set_local_response: { _, _, _ in oacRecorded.calls += 1 },
        set_usage: { _, prompt, completion in oacRecorded.usage = (prompt, completion); oacRecorded.calls += 1 },
        set_error: { _, message in oacRecorded.error = oacString(message); oacRecorded.calls += 1 },
        emit: { _, bytes in oacRecorded.emitted.append(oacString(bytes)); oacRecorded.calls += 1 },
        set_cost: { _, _ in oacRecorded.calls += 1 },
        set_stream_state: { _, _ in oacRecorded.calls += 1 },
        end_stream: { _ in oacRecorded.calls += 1 }
    ))
    return host
}

private func withCall<T>(endpoint: UInt32 = AEX_ENDPOINT_CHAT_COMPLETIONS.rawValue, body: String, alias: String = "smart",
                         provider: String = "gpt-4o-2024-08-06", max: Int64 = 0, stream: Bool = false,
                         structSize: Int = MemoryLayout<aex_call>.size, _ f: (UnsafePointer<aex_call>) -> T) -> T {
    let b = bytes(body), a = bytes(alias), p = bytes(provider), t = bytes("openai_compatible")
    return b.withUnsafeBufferPointer { b in a.withUnsafeBufferPointer { a in p.withUnsafeBufferPointer { p in t.withUnsafeBufferPointer { t in
        var call = aex_call(struct_size: UInt32(structSize), endpoint: endpoint,
                            body: aex_bytes(bytes: b.baseAddress, length: b.count),
                            model_alias: aex_bytes(bytes: a.baseAddress, length: a.count),
                            provider_model: aex_bytes(bytes: p.baseAddress, length: p.count),
                            provider_type: aex_bytes(bytes: t.baseAddress, length: t.count),
                            max_output_tokens: max, stream: stream, include_stream_usage: stream,
                            stream_state: aex_bytes(bytes: nil, length: 0))
        return withUnsafePointer(to: &call) { f($0) }
    }}}}
}

@Suite(.serialized) struct OpenAICompatibleEntryTests {
    @Test func entryPointEndToEnd() throws {
        #expect(aexPluginEntry(nil) == nil)
        #expect(aexPluginEntry(oacFakeHost(abiMajor: 2)) == nil)
        #expect(aexPluginEntry(oacFakeHost(abiMajor: 0)) == nil)
        #expect(aexPluginEntry(oacFakeHost(size: MemoryLayout<aex_host_table>.size - 8)) == nil)

        let host = oacFakeHost() // kept for the process's life, as a real host's table is
        let table = try #require(aexPluginEntry(host)).pointee
        #expect(aexPluginEntry(host).map { UnsafeRawPointer($0) } == aexPluginEntry(host).map { UnsafeRawPointer($0) })
        #expect(table.struct_size == UInt32(MemoryLayout<aex_plugin_table>.size))
        #expect(table.abi_major == 1 && table.abi_minor == UInt16(AEX_PLUGIN_ABI_MINOR))
        #expect(table.kind == AEX_PLUGIN_KIND_PROVIDER.rawValue)
        #expect(table.name.map { String(cString: $0) } == "openai-compatible")
        #expect(table.version.map { String(cString: $0) } == "0.1.0")
        #expect(table.provides.map { String(cString: $0) } == "openai_compatible")
        let build = try #require(table.build_request)
        let translateHook = try #require(table.translate_response)

        let raw = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { raw.deallocate() }
        let out = OpaquePointer(raw)
        let ok = Int32(AEX_STATUS_OK.rawValue), error = Int32(AEX_STATUS_ERROR.rawValue)

        oacRecorded = OACRecorder()
        #expect(withCall(body: #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#, max: 64, stream: true) { build($0, out) } == ok)
        #expect(oacRecorded.out == out)
        #expect(oacRecorded.method == "POST" && oacRecorded.path == "/chat/completions")
        #expect(oacRecorded.headers == ["content-type: application/json"])
        #expect(oacRecorded.body == #"{"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"hi"}],"max_tokens":64,"stream_options":{"include_usage":true}}"#)
        #expect(oacRecorded.error == nil)

        oacRecorded = OACRecorder()
        #expect(withCall(endpoint: AEX_ENDPOINT_EMBEDDINGS.rawValue, body: #"{"input":"x"}"#, max: 64) { build($0, out) } == ok)
        #expect(oacRecorded.path == "/embeddings" && oacRecorded.body == #"{"input":"x","model":"gpt-4o-2024-08-06"}"#)

        oacRecorded = OACRecorder()
        #expect(withCall(endpoint: AEX_ENDPOINT_RESPONSES.rawValue, body: #"{"model":"smart","input":"x"}"#, max: 9) { build($0, out) } == ok)
        #expect(oacRecorded.path == "/responses" && oacRecorded.body == #"{"model":"gpt-4o-2024-08-06","input":"x","max_output_tokens":9}"#)

        let upstream = bytes(#"{"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7}}"#)
        oacRecorded = OACRecorder()
        let status = upstream.withUnsafeBufferPointer { u in
            withCall(body: "{}") { translateHook($0, 200, aex_bytes(bytes: u.baseAddress, length: u.count), out) }
        }
        #expect(status == ok)
        #expect(oacRecorded.body == #"{"model":"smart","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7}}"#)
        #expect(oacRecorded.usage.map { [$0.0, $0.1] } == [11, 7])

        let noUsage = bytes(#"{"model":"x"}"#)
        oacRecorded = OACRecorder()
        #expect(noUsage.withUnsafeBufferPointer { u in
            withCall(body: "{}") { translateHook($0, 200, aex_bytes(bytes: u.baseAddress, length: u.count), out) }
        } == ok)
        #expect(oacRecorded.usage.map { [$0.0, $0.1] } == [-1, -1])

        // Failures: a status and a short reason, never a trap.
        let garbage = bytes("<html>502</html>")
        oacRecorded = OACRecorder()
        #expect(garbage.withUnsafeBufferPointer { u in
            withCall(body: "{}") { translateHook($0, 200, aex_bytes(bytes: u.baseAddress, length: u.count), out) }
        } == error)
        #expect(oacRecorded.error == "provider returned malformed JSON" && oacRecorded.body == nil && oacRecorded.usage == nil)

        oacRecorded = OACRecorder()
        #expect(withCall(body: "{\"model\":") { build($0, out) } == error)
        #expect(oacRecorded.error == "request body is not a JSON object" && oacRecorded.body == nil && oacRecorded.path == nil)

        oacRecorded = OACRecorder()
        #expect(withCall(endpoint: 9, body: "{}") { build($0, out) } == Int32(AEX_STATUS_UNSUPPORTED.rawValue))
        #expect(withCall(endpoint: 9, body: "{}") { translateHook($0, 200, aex_bytes(bytes: nil, length: 0), out) }
            == Int32(AEX_STATUS_UNSUPPORTED.rawValue))
        #expect(oacRecorded.body == nil)

        #expect(build(nil, out) == error)
        #expect(withCall(body: "{}") { build($0, nil) } == error)
        #expect(withCall(body: "{}", structSize: 16) { build($0, out) } == error)
        #expect(withCall(body: "{}", provider: "") { build($0, out) } == error)
        #expect(withCall(body: "{}", alias: "") { translateHook($0, 200, aex_bytes(bytes: nil, length: 2), out) } == error)
        #expect(withCall(body: "{}") { translateHook($0, 200, aex_bytes(bytes: nil, length: 2), out) } == error)
        #expect(withCall(body: "{}") { translateHook($0, 200, aex_bytes(bytes: nil, length: 0), out) } == error)
        #expect(withCall(body: "{}") { translateHook($0, 200, aex_bytes(bytes: raw.assumingMemoryBound(to: UInt8.self), length: -1), out) } == error)
        var bad = aex_call()
        bad.struct_size = UInt32(MemoryLayout<aex_call>.size)
        bad.endpoint = AEX_ENDPOINT_CHAT_COMPLETIONS.rawValue
        bad.body = aex_bytes(bytes: nil, length: 5)
        #expect(withUnsafePointer(to: &bad) { build($0, out) } == error)
    }
}


@Suite struct OpenAICompatibleStreamTests {
    @Test func chunksShowTheAliasAndTheUsageOnlyChunkIsMarked() throws {
        let content = try #require(StreamRewriter.translate(
            data: Array(#"{"id":"c","model":"big-v2","choices":[{"index":0,"delta":{"content":"hi"}}]}"#.utf8), modelAlias: "chat"))
        #expect(String(decoding: content.data, as: UTF8.self) == #"{"id":"c","model":"chat","choices":[{"index":0,"delta":{"content":"hi"}}]}"#)
        #expect(!content.usageOnly)
        #expect(content.usage == .unknown)
        let usage = try #require(StreamRewriter.translate(
            data: Array(#"{"model":"big-v2","choices":[ ],"usage":{"prompt_tokens":10,"completion_tokens":5}}"#.utf8), modelAlias: "chat"))
        #expect(usage.usageOnly)
        #expect(usage.usage == ResponseRewriter.Usage(promptTokens: 10, completionTokens: 5))
        // A last content chunk that also carries usage is not usage-only: its content must reach the client.
        let both = try #require(StreamRewriter.translate(
            data: Array(#"{"model":"m","choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#.utf8),
            modelAlias: "chat"))
        #expect(!both.usageOnly)
        #expect(StreamRewriter.translate(data: Array("{not json".utf8), modelAlias: "chat") == nil)
    }

    @Test func responsesEventsShowTheAliasInTheirResponseObject() throws {
        func translate(_ text: String) -> StreamRewriter.Chunk? {
            var alias = "resp-alias"
            return Array(text.utf8).withUnsafeBytes { bytes in
                alias.withUTF8 { StreamRewriter.translateResponsesEvent(data: bytes, modelAlias: UnsafeRawBufferPointer($0)) }
            }
        }
        let completed = try #require(translate(
            #"{"type":"response.completed","response":{"id":"r","model":"prov-m","usage":{"input_tokens":3,"output_tokens":4}},"sequence_number":9}"#))
        #expect(String(decoding: completed.data, as: UTF8.self)
            == #"{"type":"response.completed","response":{"id":"r","model":"resp-alias","usage":{"input_tokens":3,"output_tokens":4}},"sequence_number":9}"#)
        #expect(completed.usage == ResponseRewriter.Usage(promptTokens: 3, completionTokens: 4))
        let delta = #"{"type":"response.output_text.delta","delta":"model","item_id":"x"}"#
        #expect(try #require(translate(delta)).data == Array(delta.utf8), "events without a response object pass unchanged")
        #expect(translate(#"{"type":"response.created","response":{"model":"#) == nil)
    }
}
