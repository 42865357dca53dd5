import Foundation
import Testing
@testable import AEXHost

/// The tape-based `RequestInspector` against the tree-based reference on seeded random bodies:
/// well-formed requests of every endpoint, wrong field types, escapes and non-ASCII text, duplicate
/// keys, and the same bodies damaged byte by byte. Both must accept the same bodies with the same
/// `CallRequest`, and refuse the same bodies with the same message (byte offsets aside).
@Suite struct RequestInspectorTests {
    static let cases = 20_000

    @Test func agreesWithTheTreeReferenceOnRandomBodies() throws {
        let seed = ProcessInfo.processInfo.environment["AEX_PROPERTY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("RequestInspectorTests seed \(seed) (AEX_PROPERTY_SEED to repeat)")
        var random = SeededGenerator(seed: seed)
        var accepted = 0
        var disagreements = 0
        for number in 0..<Self.cases where disagreements < 5 {
            let endpoint = [Endpoint.chatCompletions, .embeddings, .responses].randomElement(using: &random)!
            var body = Array(BodyGenerator.body(endpoint, &random).utf8)
            if Int.random(in: 0..<3, using: &random) == 0 { BodyGenerator.damage(&body, &random) }
            let tape = Result { () throws(RequestInspector.Invalid) in try RequestInspector.inspect(endpoint, body: body) }
            let tree = Result { () throws(RequestInspector.Invalid) in try TreeRequestInspector.inspect(endpoint, body: body) }
            switch (tape, tree) {
            case (.success(let a), .success(let b)) where a == b:
                accepted += 1
            case (.failure(let a), .failure(let b)) where withoutOffset(a.message) == withoutOffset(b.message):
                break
            default:
                disagreements += 1
                Issue.record("case \(number) seed \(seed): tape \(tape), tree \(tree) for \(String(decoding: body, as: UTF8.self))")
            }
        }
        #expect(accepted > Self.cases / 10, "the generator produces enough valid requests (\(accepted))")
    }

    @Test func countsEscapedAndNonASCIITextByItsUTF8Bytes() throws {
        let body = #"{"messages":[{"role":"user","content":"a\n\u00e9\ud83d\ude00é"}]}"#
        let request = try RequestInspector.inspect(.chatCompletions, body: Array(body.utf8))
        #expect(request.promptBytes == 4 + 1 + 1 + 2 + 4 + 2)
    }

    @Test func refusesDuplicateKeysIncludingEscapedOnesAndInLargeObjects() {
        #expect(throws: RequestInspector.Invalid.self) {
            try RequestInspector.inspect(.chatCompletions, body: Array(#"{"model":"a","mod\u0065l":"b","messages":[]}"#.utf8))
        }
        var members = (0..<100).map { "\"k\($0)\":\($0)" }
        members.append(#""k7":1"#)
        let large = "{" + members.joined(separator: ",") + #","messages":[{"role":"user"}]}"#
        #expect(throws: RequestInspector.Invalid.self) { try RequestInspector.inspect(.chatCompletions, body: Array(large.utf8)) }
        members.removeLast()
        let distinct = "{" + members.joined(separator: ",") + #","messages":[{"role":"user"}]}"#
        #expect((try? RequestInspector.inspect(.chatCompletions, body: Array(distinct.utf8))) != nil)
    }

    @Test func theLargestOutputLimitNamedIsTheBound() throws {
        let body = #"{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":1,"max_tokens":50000}"#
        #expect(try RequestInspector.inspect(.chatCompletions, body: Array(body.utf8)).requestedMaxTokens == 50_000)
        let responses = #"{"input":"hi","max_output_tokens":7,"max_tokens":9}"#
        #expect(try RequestInspector.inspect(.responses, body: Array(responses.utf8)).requestedMaxTokens == 9)
    }

    @Test func choicesMultiplyOutputAndInvalidCountsAreRefused() throws {
        func inspect(_ members: String) throws(RequestInspector.Invalid) -> CallRequest {
            try RequestInspector.inspect(.chatCompletions, body: Array(#"{"messages":[{"role":"user","content":"hi"}],\#(members)}"#.utf8))
        }
        #expect(try inspect(#""n":100"#).choices == 100)
        #expect(try inspect(#""n":3,"best_of":5"#).choices == 5)
        #expect(try inspect(#""n":null"#).choices == 1)
        for bad in ["-1", "0", "1.5", "2.0", "\"2\"", "129", "true", "99999999999999999999"] {
            #expect(throws: RequestInspector.Invalid.self, "n: \(bad)") { try inspect(#""n":\#(bad)"#) }
        }
    }

    @Test func schemasPredictionsAndToolChoiceCountAsPrompt() throws {
        let schema = #"{"type":"json_schema","json_schema":{"name":"big","schema":{"type":"object","properties":{"field_with_a_long_name":{"type":"string"}}}}}"#
        let base = #"{"messages":[{"role":"user","content":"hi"}]"#
        let plain = try RequestInspector.inspect(.chatCompletions, body: Array((base + "}").utf8))
        let withSchema = try RequestInspector.inspect(.chatCompletions, body: Array((base + #","response_format":\#(schema)}"#).utf8))
        #expect(withSchema.promptBytes == plain.promptBytes + Int64(schema.utf8.count))
        let prediction = #"{"type":"content","content":"\#(String(repeating: "x", count: 70_000))"}"#
        let predicted = try RequestInspector.inspect(.chatCompletions, body: Array((base + #","prediction":\#(prediction)}"#).utf8))
        #expect(predicted.promptBytes >= plain.promptBytes + 70_000)
        // Tools and legacy functions given together: both are prompt, both are checked by name.
        let both = base + #","tools":[],"functions":[{"name":"forbidden","parameters":{}}]}"#
        let request = try RequestInspector.inspect(.chatCompletions, body: Array(both.utf8))
        #expect(request.usesTools && request.toolNames == ["forbidden"])
    }

    @Test func promptKeptByTheProviderIsRefused() {
        for member in [#""previous_response_id":"resp_1""#, #""conversation":"conv_1""#, #""prompt":{"id":"pmpt_1"}"#] {
            #expect(throws: RequestInspector.Invalid.self) {
                try RequestInspector.inspect(.responses, body: Array(#"{"input":"hi",\#(member)}"#.utf8))
            }
        }
    }

    private func withoutOffset(_ message: String) -> String {
        guard let range = message.range(of: " at byte ") else { return message }
        return String(message[..<range.lowerBound])
    }
}

/// The tape (and `JSONReader`, built on it) against the recursive-descent reference reader: same
/// documents accepted with the same values, same reasons for refusing the others.
@Suite struct JSONTapeTests {
    @Test func acceptsAndRefusesWhatTheReferenceReaderDoes() {
        var random = SeededGenerator(seed: 0x7A9E)
        for _ in 0..<20_000 {
            var body = Array(BodyGenerator.body(.chatCompletions, &random).utf8)
            BodyGenerator.damage(&body, &random)
            let tape = Result { () throws(JSONReader.Failure) in try JSONReader.parse(body) }
            let tree = Result { () throws(JSONReader.Failure) in try ReferenceJSONReader.parse(body) }
            switch (tape, tree) {
            case (.success(let tape), .success(let value)):
                #expect(tape == value)
            case (.failure(let a), .failure(let b)):
                #expect(a.reason == b.reason, "\(String(decoding: body, as: UTF8.self))")
            default:
                Issue.record("tape \(tape) vs reader \(tree) for \(String(decoding: body, as: UTF8.self))")
            }
        }
    }

    /// The word-at-a-time scan stops where a byte-by-byte scan does: every byte value at every
    /// position of plain runs of every length up to 40, from every start, then seeded random runs.
    @Test func plainRunEndStopsWhereAByteByByteScanDoes() {
        func expected(_ bytes: [UInt8], from: Int) -> Int {
            var at = from
            while at < bytes.count, bytes[at] >= 0x20, bytes[at] < 0x80, bytes[at] != 0x22, bytes[at] != 0x5C { at += 1 }
            return at
        }
        for length in 0...40 {
            for position in 0..<max(length, 1) {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    if position < length { bytes[position] = UInt8(value) }
                    for from in [0, 1, 3, 7].filter({ $0 <= length }) {
                        let found = bytes.withUnsafeBufferPointer { JSONTape.plainRunEnd($0, from: from) }
                        if found != expected(bytes, from: from) {
                            Issue.record("length \(length), byte \(value) at \(position), from \(from): \(found)")
                            return
                        }
                    }
                }
            }
        }
        var random = SeededGenerator(seed: 0x5CA1)
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...64, using: &random)).map { _ in
                Int.random(in: 0..<16, using: &random) == 0 ? UInt8.random(in: 0...255, using: &random) : UInt8.random(in: 0x20...0x7E, using: &random)
            }
            let from = Int.random(in: 0...bytes.count, using: &random)
            #expect(bytes.withUnsafeBufferPointer { JSONTape.plainRunEnd($0, from: from) } == expected(bytes, from: from), "\(bytes) from \(from)")
        }
    }

    @Test func validatesUTF8LikeTheStandardLibrary() {
        var random = SeededGenerator(seed: 0x0F8)
        for _ in 0..<100_000 {
            let bytes = (0..<Int.random(in: 1...4, using: &random)).map { _ in
                switch Int.random(in: 0..<4, using: &random) {
                case 0: UInt8.random(in: 0x80...0xBF, using: &random)
                case 1: UInt8.random(in: 0...0x7F, using: &random)
                default: UInt8.random(in: 0x80...0xFF, using: &random)
                }
            }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            var at = 0
            while at < bytes.count, let length = bytes[at] < 0x80 ? 1 : JSONTape.utf8SequenceLength(bytes, at: at) { at += length }
            #expect((at == bytes.count) == expected, "\(bytes)")
        }
    }
}

/// Random request bodies: mostly well-formed with plausible fields, sometimes with wrong types.
enum BodyGenerator {
    static let texts = ["", "hello", "héllo wörld", "a\\nb", "\\u00e9t\\u00e9", "\\ud83d\\ude00", "tab\\there", "q\\\"uote", "日本語", "\\/"]

    static func body(_ endpoint: Endpoint, _ random: inout SeededGenerator) -> String {
        var members: [String] = []
        func maybe(_ odds: Int, _ member: @autoclosure () -> String) {
            if Int.random(in: 0..<odds, using: &random) == 0 { members.append(member()) }
        }
        maybe(2, #""model":\#(scalar(&random, preferString: true))"#)
        maybe(4, #""stream":\#(scalar(&random))"#)
        maybe(6, #""stream_options":\#(Bool.random(using: &random) ? #"{"include_usage":\#(scalar(&random))}"# : scalar(&random))"#)
        for key in ["max_tokens", "max_completion_tokens", "max_output_tokens"] { maybe(4, #""\#(key)":\#(number(&random))"#) }
        for key in ["n", "best_of"] { maybe(6, #""\#(key)":\#(["1", "2", "128", "7", "129", "0", "-1", "1.5", "null", "\"2\""].randomElement(using: &random)!)"#) }
        for key in ["response_format", "prediction", "text", "tool_choice"] { maybe(6, #""\#(key)":\#(Bool.random(using: &random) ? schema(&random) : scalar(&random))"#) }
        switch endpoint {
        case .chatCompletions: maybe(1, #""messages":\#(messages(&random))"#)
        case .embeddings: maybe(1, #""input":\#(input(&random, items: { embeddingItem(&$0) }))"#)
        case .responses:
            maybe(1, #""input":\#(input(&random, items: { message(&$0) }))"#)
            maybe(3, #""instructions":\#(scalar(&random, preferString: true))"#)
            for key in ["previous_response_id", "conversation", "prompt"] { maybe(30, #""\#(key)":\#(scalar(&random, preferString: true))"#) }
        }
        maybe(4, #""\#(Bool.random(using: &random) ? "tools" : "functions")":\#(tools(&random))"#)
        maybe(12, #""\#(Bool.random(using: &random) ? "tools" : "functions")":\#(tools(&random))"#)
        maybe(8, #""model":"dup""#)
        members.shuffle(using: &random)
        return "{" + members.joined(separator: Bool.random(using: &random) ? "," : " ,\n ") + "}"
    }

    static func scalar(_ random: inout SeededGenerator, preferString: Bool = false) -> String {
        if preferString, Int.random(in: 0..<4, using: &random) != 0 { return string(&random) }
        return [string(&random), number(&random), "true", "false", "null", "[]", "{}"].randomElement(using: &random)!
    }

    static func string(_ random: inout SeededGenerator) -> String {
        "\"" + (0..<Int.random(in: 0...3, using: &random)).map { _ in texts.randomElement(using: &random)! }.joined() + "\""
    }

    static func schema(_ random: inout SeededGenerator) -> String {
        #"{"type":"json_schema","json_schema":{"name":\#(string(&random)),"schema":{"type":"object","properties":{"a":{"type":"string"}}}},"content":\#(string(&random))}"#
    }

    static func number(_ random: inout SeededGenerator) -> String {
        ["1", "0", "-3", "256", "4096", "1.5", "2e3", "9223372036854775807", "9223372036854775808", "\"12\"", "null", "-0", "128", "129", "2"]
            .randomElement(using: &random)!
    }

    static func messages(_ random: inout SeededGenerator) -> String {
        if Int.random(in: 0..<12, using: &random) == 0 { return scalar(&random) }
        return "[" + (0..<Int.random(in: 0...4, using: &random)).map { _ in message(&random) }.joined(separator: ",") + "]"
    }

    static func message(_ random: inout SeededGenerator) -> String {
        if Int.random(in: 0..<15, using: &random) == 0 { return scalar(&random) }
        var fields: [String] = []
        if Int.random(in: 0..<10, using: &random) != 0 { fields.append(#""role":\#(Int.random(in: 0..<8, using: &random) == 0 ? scalar(&random) : string(&random))"#) }
        switch Int.random(in: 0..<6, using: &random) {
        case 0: break
        case 1: fields.append(#""content":\#(scalar(&random))"#)
        case 2, 3: fields.append(#""content":\#(string(&random))"#)
        default: fields.append(#""content":[\#((0..<Int.random(in: 0...3, using: &random)).map { _ in part(&random) }.joined(separator: ","))]"#)
        }
        if Int.random(in: 0..<5, using: &random) == 0 { fields.append(#""name":\#(string(&random))"#) }
        fields.shuffle(using: &random)
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func part(_ random: inout SeededGenerator) -> String {
        if Int.random(in: 0..<10, using: &random) == 0 { return scalar(&random) }
        let type = ["\"text\"", "\"image_url\"", "\"input_image\"", "\"image\\u005furl\"", "3"].randomElement(using: &random)!
        return #"{"type":\#(type),"text":\#(string(&random)),"detail":{"x":[1,\#(string(&random))]}}"#
    }

    static func input(_ random: inout SeededGenerator, items: (inout SeededGenerator) -> String) -> String {
        switch Int.random(in: 0..<5, using: &random) {
        case 0: return scalar(&random, preferString: true)
        case 1: return "[]"
        default: return "[" + (0..<Int.random(in: 1...3, using: &random)).map { _ in items(&random) }.joined(separator: ",") + "]"
        }
    }

    static func embeddingItem(_ random: inout SeededGenerator) -> String {
        [string(&random), "[1,2,3]", "[]", "7", "1.5", "null", "{}"].randomElement(using: &random)!
    }

    static func tools(_ random: inout SeededGenerator) -> String {
        if Int.random(in: 0..<8, using: &random) == 0 { return scalar(&random) }
        let tool = [#"{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}"#,
                    #"{"name":"lookup","description":"Find \u00e9"}"#, #"{"type":"web_search"}"#, #"{"other":1}"#, "3"]
        return "[" + (0..<Int.random(in: 0...2, using: &random)).map { _ in tool.randomElement(using: &random)! }.joined(separator: ",") + "]"
    }

    /// Truncates, flips, inserts or removes bytes: mostly invalid JSON, sometimes a different valid body.
    static func damage(_ body: inout [UInt8], _ random: inout SeededGenerator) {
        guard !body.isEmpty else { return }
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let at = Int.random(in: 0..<body.count, using: &random)
            switch Int.random(in: 0..<5, using: &random) {
            case 0: body.removeSubrange(at...)
            case 1: body[at] = UInt8.random(in: 0...255, using: &random)
            case 2: body.insert([UInt8]("{}[]\",:\\ 0e-.tn\u{7f}".utf8).randomElement(using: &random)!, at: at)
            case 3: body.insert(contentsOf: [0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xED, 0xA0, 0x80, 0xF4, 0x90][Int.random(in: 0..<9, using: &random)...].prefix(2), at: at)
            default: body.remove(at: at)
            }
            if body.isEmpty { return }
        }
    }
}
