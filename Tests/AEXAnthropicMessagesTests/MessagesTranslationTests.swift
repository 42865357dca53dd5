import AEXAnthropicMessages
import Testing

private func json(_ text: String) -> JSON { try! JSON.parse(text) }

private func request(_ text: String, max: Int64 = 0, stream: Bool = false) throws(MessagesRequest.Refusal) -> JSON {
    try MessagesRequest.translate(body: json(text), providerModel: "claude-x", maxOutputTokens: max, stream: stream)
}

@Suite struct JSONTests {
    @Test func roundTripsKeepingOrderNumbersAndEscapes() throws {
        let text = #"{"b":1.50,"a":[true,false,null,-2e3],"s":"q\"\\\n\u0001é😀","o":{}}"#
        let value = try JSON.parse(text)
        #expect(value.text == #"{"b":1.50,"a":[true,false,null,-2e3],"s":"q\"\\\n\u0001é😀","o":{}}"#)
        #expect(try JSON.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test func refusesMalformedInput() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\ud800\"", "\"\u{01}\"", "nul", "{} x", String(repeating: "[", count: 100)] {
            #expect(throws: JSON.Malformed.self) { try JSON.parse(bad) }
        }
    }
}

@Suite struct MessagesRequestTests {
    @Test func mapsSystemTurnsImagesToolsAndParameters() throws {
        let out = try request(#"""
        {"model":"alias","max_tokens":50,"temperature":0.5,"top_p":0.9,"stop":"END","user":"u1","seed":3,
         "messages":[{"role":"system","content":"Be brief."},{"role":"developer","content":[{"type":"text","text":"Use tools."}]},
           {"role":"user","content":[{"type":"text","text":"Look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},
             {"type":"image_url","image_url":{"url":"https://example.com/a.jpg"}}]},
           {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"add","arguments":"{\"a\":1}"}}]},
           {"role":"tool","tool_call_id":"call_1","content":"2"},{"role":"user","content":"thanks"}],
         "tools":[{"type":"function","function":{"name":"add","description":"adds","parameters":{"type":"object"}}}],
         "tool_choice":"required","parallel_tool_calls":false}
        """#)
        #expect(out.text == #"{"model":"claude-x","max_tokens":50,"system":"Be brief.\n\nUse tools.","messages":[{"role":"user","content":[{"type":"text","text":"Look"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}}]},{"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"add","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"2"},{"type":"text","text":"thanks"}]}],"tools":[{"name":"add","description":"adds","input_schema":{"type":"object"}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},"stop_sequences":["END"],"temperature":0.5,"top_p":0.9}"#)
    }

    @Test func hostLimitAndStream() throws {
        let out = try request(#"{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#, max: 256, stream: true)
        #expect(out.text == #"{"model":"claude-x","max_tokens":256,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true}"#)
        #expect(try request(#"{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":7}"#)["max_tokens"] == .number("7"))
    }

    @Test func toolChoiceForms() throws {
        let base = #""messages":[{"role":"user","content":"hi"}],"max_tokens":5"#
        #expect(try request("{\(base),\"tool_choice\":\"auto\"}")["tool_choice"]?.text == #"{"type":"auto"}"#)
        #expect(try request("{\(base),\"tool_choice\":\"none\"}")["tool_choice"]?.text == #"{"type":"none"}"#)
        #expect(try request("{\(base),\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}}")["tool_choice"]?.text == #"{"type":"tool","name":"f"}"#)
        #expect(try request("{\(base)}")["tool_choice"] == nil)
    }

    @Test func refusesWhatCannotBeHonouredNamingIt() {
        let base = #""messages":[{"role":"user","content":"hi"}],"max_tokens":5"#
        let cases: [(String, String)] = [
            ("\"n\":2", "'n'"), ("\"logprobs\":true", "'logprobs'"), ("\"top_logprobs\":2", "'top_logprobs'"),
            ("\"temperature\":1.5", "'temperature'"), ("\"response_format\":{\"type\":\"json_object\"}", "'response_format'"),
            ("\"audio\":{\"voice\":\"x\"}", "'audio'"), ("\"functions\":[]", "'functions'"),
            ("\"tools\":[{\"type\":\"web_search\"}]", "tools[0]"),
        ]
        for (field, named) in cases {
            do {
                _ = try request("{\(base),\(field)}")
                Issue.record("\(field) was accepted")
            } catch {
                #expect(error.message.contains(named), "\(field): \(error.message)")
            }
        }
        #expect(throws: MessagesRequest.Refusal.self) { try request(#"{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}],"max_tokens":5}"#) }
        #expect(throws: MessagesRequest.Refusal.self) { try request(#"{"messages":[{"role":"assistant","content":"x"}],"max_tokens":5}"#) }
        #expect(throws: MessagesRequest.Refusal.self) { try request(#"{"messages":[{"role":"user","content":"x"}]}"#) }
        #expect(throws: MessagesRequest.Refusal.self) { try request(#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://x/a.png"}}]}],"max_tokens":5}"#) }
        #expect(throws: MessagesRequest.Refusal.self) { try request(#"{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"[1"}}]}],"max_tokens":5}"#) }
    }
}

@Suite struct MessagesResponseTests {
    @Test func messageBecomesChatCompletion() throws {
        let answer = #"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Let me add."},{"type":"tool_use","id":"tu_1","name":"add","input":{"a":1,"b":2}}],"stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":3,"cache_creation_input_tokens":2}}"#
        let out = try MessagesResponse.translate(body: Array(answer.utf8), alias: "claude", createdSeconds: 100)
        #expect(String(decoding: out.body, as: UTF8.self) == #"{"id":"msg_1","object":"chat.completion","created":100,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"Let me add.","tool_calls":[{"id":"tu_1","type":"function","function":{"name":"add","arguments":"{\"a\":1,\"b\":2}"}}],"refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":15,"completion_tokens":5,"total_tokens":20,"prompt_tokens_details":{"cached_tokens":3}}}"#)
        #expect(out.usage == .init(promptTokens: 15, completionTokens: 5))
    }

    @Test func untrustedUsageIsUnknown() throws {
        for usage in [#"{"output_tokens":5}"#, #"{"input_tokens":-1,"output_tokens":5}"#, #"{"input_tokens":9223372036854775807,"output_tokens":1,"cache_read_input_tokens":1}"#] {
            let answer = #"{"type":"message","content":[],"stop_reason":"end_turn","usage":"# + usage + "}"
            #expect(try MessagesResponse.translate(body: Array(answer.utf8), alias: "a", createdSeconds: 0).usage.promptTokens == nil)
        }
        #expect(throws: MessagesResponse.Malformed.self) { try MessagesResponse.translate(body: Array("{}".utf8), alias: "a", createdSeconds: 0) }
    }

    @Test func finishReasons() {
        #expect(MessagesResponse.finishReason("end_turn") == .string("stop"))
        #expect(MessagesResponse.finishReason("stop_sequence") == .string("stop"))
        #expect(MessagesResponse.finishReason("max_tokens") == .string("length"))
        #expect(MessagesResponse.finishReason("tool_use") == .string("tool_calls"))
    }

    @Test func errorsBecomeOpenAIShaped() {
        let body = Array(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.utf8)
        #expect(MessagesResponse.translateError(body: body).map { String(decoding: $0, as: UTF8.self) } ==
            #"{"error":{"message":"Overloaded","type":"overloaded_error","code":"overloaded_error","param":null}}"#)
        #expect(MessagesResponse.translateError(body: Array("<html>".utf8)) == nil)
    }
}

@Suite struct MessagesStreamTests {
    func run(_ events: [String]) throws -> (chunks: [String], prompt: Int64?, completion: Int64?, ended: Bool, usageOnly: [Bool]) {
        var state: MessagesStream.State?
        var chunks: [String] = []
        var prompt: Int64?, completion: Int64?, ended = false, usageOnly: [Bool] = []
        for event in events {
            let out = try MessagesStream.translate(data: Array(event.utf8), alias: "claude", state: state, nowSeconds: 7)
            if let next = out.state {  // through bytes, as the host keeps it
                state = MessagesStream.State(bytes: next.bytes)
                #expect(state == next)
            }
            chunks += out.emitted.map { String(decoding: $0, as: UTF8.self) }
            if let p = out.promptTokens { prompt = p }
            if let c = out.completionTokens { completion = c }
            if out.ended { ended = true }
            usageOnly.append(out.usageOnly)
        }
        return (chunks, prompt, completion, ended, usageOnly)
    }

    @Test func textAndToolStream() throws {
        let out = try run([
            #"{"type":"message_start","message":{"id":"msg_9","type":"message","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":2}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"ping"}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"tu_1","name":"add","input":{}}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":12}}"#,
            #"{"type":"message_stop"}"#,
        ])
        let head = #"{"id":"msg_9","object":"chat.completion.chunk","created":7,"model":"claude","#
        #expect(out.chunks == [
            head + #""choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            head + #""choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}"#,
            head + #""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"tu_1","type":"function","function":{"name":"add","arguments":""}}]},"logprobs":null,"finish_reason":null}]}"#,
            head + #""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]},"logprobs":null,"finish_reason":null}]}"#,
            head + #""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"logprobs":null,"finish_reason":null}]}"#,
            head + #""choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}"#,
            head + #""choices":[],"usage":{"prompt_tokens":12,"completion_tokens":12,"total_tokens":24,"prompt_tokens_details":{"cached_tokens":2}}}"#,
        ])
        #expect(out.prompt == 12 && out.completion == 12 && out.ended)
        #expect(out.usageOnly.last == true && out.usageOnly.dropLast().allSatisfy { !$0 })
    }

    @Test func errorsAndOrder() {
        #expect(throws: MessagesStream.Failure.self) {
            try MessagesStream.translate(data: Array(#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#.utf8),
                                         alias: "a", state: nil, nowSeconds: 0)
        }
        do {
            _ = try MessagesStream.translate(data: Array(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.utf8),
                                             alias: "a", state: nil, nowSeconds: 0)
            Issue.record("an error event was accepted")
        } catch {
            #expect(error.message == "provider stream error: overloaded_error: Overloaded")
        }
        let state = MessagesStream.State(id: "m", createdSeconds: 0)
        #expect(throws: MessagesStream.Failure.self) {
            try MessagesStream.translate(data: Array(#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{"}}"#.utf8),
                                         alias: "a", state: state, nowSeconds: 0)
        }
    }
}

/// Mutated requests, answers and stream events: every one is translated or refused, none traps.
@Suite struct MessagesFuzzTests {
    struct LCG {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    static let samples = [
        #"{"model":"a","max_tokens":5,"temperature":0.5,"stop":["x"],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"t"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":[1,2]}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}"#,
        #"{"id":"m","type":"message","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4,"cache_read_input_tokens":1}}"#,
        #"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":3,"output_tokens":1}}}"#,
        #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#,
        #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
        #"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#,
        #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ]

    static let structural = Array("{}[]\",:0-e\\u".utf8)

    @Test func mutatedInputNeverTraps() {
        var random = LCG(state: 0x5eed)
        var state = MessagesStream.State(id: "m", createdSeconds: 1)
        state.toolIndexByBlock = [1: 0]
        var translated = 0
        for round in 0..<20_000 {
            var bytes = Array(Self.samples[round % Self.samples.count].utf8)
            for _ in 0...random.next(4) {
                let at = random.next(bytes.count)
                switch random.next(4) {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: random.next(256))
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(Self.structural[random.next(Self.structural.count)], at: at)
                default: bytes[at] = bytes[random.next(bytes.count)]
                }
                if bytes.isEmpty { bytes = [0x7b] }
            }
            if let json = try? JSON.parse(bytes) {
                if (try? MessagesRequest.translate(body: json, providerModel: "m", maxOutputTokens: Int64(random.next(3)), stream: true)) != nil {
                    translated += 1
                }
            }
            if (try? MessagesResponse.translate(body: bytes, alias: "a", createdSeconds: 0)) != nil { translated += 1 }
            _ = MessagesResponse.translateError(body: bytes)
            if let out = try? MessagesStream.translate(data: bytes, alias: "a", state: random.next(2) == 0 ? nil : state, nowSeconds: 0) {
                translated += 1
                if let next = out.state { #expect(MessagesStream.State(bytes: next.bytes) == next) }
            }
        }
        #expect(translated > 1_000, "the mutations leave many inputs valid: \(translated)")
    }
}
