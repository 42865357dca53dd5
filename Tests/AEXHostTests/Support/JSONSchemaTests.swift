import Testing
@testable import AEXHost

/// The JSON Schema subset of tool arguments: every keyword passing and failing, the path and text
/// of each failure, exact number comparisons, schemas refused when loaded, and the depth limit.
@Suite struct JSONSchemaTests {
    private func json(_ text: String) throws -> JSONValue { try JSONReader.parse(Array(text.utf8)) }

    /// `validate` of two JSON texts.
    private func check(_ value: String, _ schema: String) throws -> String? {
        let schema = try json(schema)
        #expect(JSONSchemaCheck.problem(in: schema) == nil, "schema \(schema.canonicalText)")
        return JSONSchemaCheck.validate(try json(value), against: schema)
    }

    private func problem(_ schema: String) throws -> String? { JSONSchemaCheck.problem(in: try json(schema)) }

    /// `depth` arrays inside one another around `innermost`.
    private func nested(_ depth: Int, around innermost: JSONValue = .null) -> JSONValue {
        var value = innermost
        for _ in 0..<depth { value = .array([value]) }
        return value
    }

    // MARK: A function tool's parameters

    @Test func openAIFunctionParameters() throws {
        let schema = #"{"type":"object","properties":{"expression":{"type":"string","minLength":1,"maxLength":1000}},"required":["expression"],"additionalProperties":false}"#
        #expect(try problem(schema) == nil)
        #expect(try check(#"{"expression":"2 + 2"}"#, schema) == nil)
        #expect(try check("{}", schema) == "arguments: missing required property 'expression'")
        #expect(try check(#"{"expression":""}"#, schema) == "arguments.expression: '' has 0 characters, fewer than the minimum 1")
        let long = String(repeating: "1", count: 1001)
        #expect(try check(#"{"expression":"\#(long)"}"#, schema)
            == "arguments.expression: '\(String(repeating: "1", count: 64))…' has 1001 characters, more than the maximum 1000")
        #expect(try check(#"{"expression":"\#(String(repeating: "1", count: 1000))"}"#, schema) == nil)
        #expect(try check(#"{"expression":"1","x":2}"#, schema) == "arguments: unexpected property 'x'")
        #expect(try check(#"{"expression":12}"#, schema) == "arguments.expression: expected a string, got a number")
        #expect(try check(#"["1+1"]"#, schema) == "arguments: expected an object, got an array")
    }

    // MARK: type

    @Test func everyTypeName() throws {
        let samples = ["object": "{}", "array": "[]", "string": #""s""#, "number": "1.5", "integer": "7", "boolean": "true", "null": "null"]
        let kinds = ["object": "an object", "array": "an array", "string": "a string", "number": "a number",
                     "integer": "a number", "boolean": "a boolean", "null": "null"]
        let expected = ["object": "an object", "array": "an array", "string": "a string", "number": "a number",
                        "integer": "an integer", "boolean": "a boolean", "null": "null"]
        for (type, _) in samples {
            for (other, sample) in samples {
                let result = try check(sample, #"{"type":"\#(type)"}"#)
                let passes = type == other || (type == "number" && other == "integer")
                if passes {
                    #expect(result == nil, "\(sample) as \(type)")
                } else if type == "integer" && other == "number" {
                    #expect(result == "arguments: expected an integer, got 1.5")
                } else {
                    #expect(result == "arguments: expected \(expected[type]!), got \(kinds[other]!)", "\(sample) as \(type)")
                }
            }
        }
    }

    @Test func typeLists() throws {
        let schema = #"{"type":["string","null"]}"#
        #expect(try check(#""x""#, schema) == nil)
        #expect(try check("null", schema) == nil)
        #expect(try check("3", schema) == "arguments: expected a string or null, got a number")
        #expect(try check("{}", #"{"type":["array","integer","boolean"]}"#) == "arguments: expected an array, an integer or a boolean, got an object")
    }

    @Test func integerTakesWholeNumbersOnly() throws {
        for whole in ["0", "-0", "2.0", "-7.000", "1e3", "2.5e1", "1E+2", "-0.0", "9223372036854775808", "123456789012345678901234567890", "0e-5"] {
            #expect(try check(whole, #"{"type":"integer"}"#) == nil, "\(whole)")
            #expect(try check(whole, #"{"type":"number"}"#) == nil, "\(whole)")
        }
        for fraction in ["2.5", "1e-1", "0.0000001", "12345678901234567890.5", "25e-1"] {
            #expect(try check(fraction, #"{"type":"integer"}"#) == "arguments: expected an integer, got \(fraction)")
            #expect(try check(fraction, #"{"type":"number"}"#) == nil)
        }
        #expect(JSONSchemaCheck.validate(.number("2.x"), against: try json(#"{"type":"integer"}"#)) == "arguments: expected an integer, got 2.x")
        #expect(try check(#""1""#, #"{"type":"integer"}"#) == "arguments: expected an integer, got a string")
        #expect(try check(#""1""#, #"{"type":"number"}"#) == "arguments: expected a number, got a string")
    }

    // MARK: Objects

    @Test func pathsThroughNestedObjectsAndArrays() throws {
        let schema = #"""
            {"type":"object","properties":{
              "items":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"}}}},
              "grid":{"type":"array","items":{"type":"array","items":{"type":"object","properties":{"cell":{"type":"integer"}}}}},
              "first name":{"type":"string"},
              "a.b":{"properties":{"x\"y":{"type":"string"}}}
            }}
            """#
        #expect(try check(#"{"items":[{"name":"a"},{"name":"b"},{"name":3}]}"#, schema) == "arguments.items[2].name: expected a string, got a number")
        #expect(try check(#"{"grid":[[],[{"cell":1},{"cell":1.5}]]}"#, schema) == "arguments.grid[1][1].cell: expected an integer, got 1.5")
        #expect(try check(#"{"first name":false}"#, schema) == #"arguments["first name"]: expected a string, got a boolean"#)
        #expect(try check(#"{"a.b":{"x\"y":[]}}"#, schema) == #"arguments["a.b"]["x\"y"]: expected a string, got an array"#)
        #expect(try check(#"{"items":[{"name":"a","other":1}],"grid":[[{"cell":-3}]],"unknown":{}}"#, schema) == nil)
    }

    @Test func pathText() {
        #expect(JSONSchemaCheck.pathText("arguments", []) == "arguments")
        #expect(JSONSchemaCheck.pathText("arguments", [.member("a_1"), .item(0), .member("$ref"), .member("max-depth")]) == "arguments.a_1[0].$ref.max-depth")
        #expect(JSONSchemaCheck.pathText("arguments", [.member("1a"), .member(""), .member("é"), .member("-x")]) == #"arguments["1a"][""]["é"]["-x"]"#)
        let long = String(repeating: "k", count: 100)
        #expect(JSONSchemaCheck.pathText("arguments", [.member(long)]) == #"arguments[""# + String(repeating: "k", count: 63) + "…]")
    }

    @Test func required() throws {
        let schema = #"{"type":"object","required":["b","a"]}"#
        #expect(try check(#"{"a":1,"b":null}"#, schema) == nil)
        #expect(try check(#"{"a":1}"#, schema) == "arguments: missing required property 'b'")
        #expect(try check(#"{"b":1}"#, schema) == "arguments: missing required property 'a'")
        #expect(try check("{}", schema) == "arguments: missing required property 'b'", "in the listed order")
        #expect(try check("[]", #"{"required":["a"]}"#) == nil, "required applies to objects only")
        #expect(try check(#"{"p":{}}"#, #"{"properties":{"p":{"required":["it's"]}}}"#) == #"arguments.p: missing required property 'it\'s'"#)
    }

    @Test func additionalProperties() throws {
        let closed = #"{"properties":{"a":{},"b":{}},"additionalProperties":false}"#
        #expect(try check(#"{"a":1,"b":2}"#, closed) == nil)
        #expect(try check("{}", closed) == nil)
        #expect(try check(#"{"a":1,"z":2,"c":3}"#, closed) == "arguments: unexpected property 'c'", "the first by key")
        let typed = #"{"properties":{"name":{"type":"string"}},"additionalProperties":{"type":"integer","minimum":0}}"#
        #expect(try check(#"{"name":"n","x":1,"y":2}"#, typed) == nil)
        #expect(try check(#"{"name":"n","x":"1"}"#, typed) == "arguments.x: expected an integer, got a string")
        #expect(try check(#"{"name":"n","x":-1}"#, typed) == "arguments.x: -1 is below the minimum 0")
        #expect(try check(#"{"name":5}"#, typed) == "arguments.name: expected a string, got a number", "declared properties use their own schema")
        #expect(try check(#"{"anything":[1]}"#, #"{"additionalProperties":true}"#) == nil)
        #expect(try check(#"{"anything":[1]}"#, #"{"properties":{}}"#) == nil)
        #expect(try check(#"{"x":1}"#, #"{"additionalProperties":false}"#) == "arguments: unexpected property 'x'")
    }

    @Test func failuresComeInAFixedOrder() throws {
        let schema = #"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},"c":{}},"required":["c"],"additionalProperties":false}"#
        #expect(try check(#"{"b":1,"a":2,"x":3}"#, schema) == "arguments: missing required property 'c'")
        #expect(try check(#"{"b":1,"a":2,"x":3,"c":0}"#, schema) == "arguments.a: expected a string, got a number")
        #expect(try check(#"{"b":1,"x":3,"c":0}"#, schema) == "arguments.b: expected a string, got a number")
        #expect(try check(#"{"x":3,"c":0,"_":1}"#, schema) == "arguments: unexpected property '_'")
        #expect(try check(#"[]"#, schema) == "arguments: expected an object, got an array")
    }

    // MARK: Arrays

    @Test func itemsAndItemCounts() throws {
        let schema = #"{"type":"array","items":{"type":"string","maxLength":2},"minItems":1,"maxItems":3}"#
        #expect(try check(#"["a","bb"]"#, schema) == nil)
        #expect(try check("[]", schema) == "arguments: the array has 0 items, fewer than the minimum 1")
        #expect(try check(#"["a","b","c","d"]"#, schema) == "arguments: the array has 4 items, more than the maximum 3")
        #expect(try check(#"["a",1]"#, schema) == "arguments[1]: expected a string, got a number")
        #expect(try check(#"["a","abc"]"#, schema) == "arguments[1]: 'abc' has 3 characters, more than the maximum 2")
        #expect(try check(#"[1]"#, #"{"minItems":2}"#) == "arguments: the array has 1 item, fewer than the minimum 2")
        #expect(try check(#""abc""#, #"{"minItems":5,"items":{"type":"null"}}"#) == nil, "array keywords apply to arrays only")
    }

    @Test func wideValuesAreCheckedInOnePass() throws {
        let items = JSONValue.array((0..<100_000).map { .int(Int64($0)) })
        #expect(JSONSchemaCheck.validate(items, against: try json(#"{"items":{"type":"integer","minimum":0}}"#)) == nil)
        var members: [String: JSONValue] = [:]
        for index in 0..<20_000 { members["k\(index)"] = .string("v") }
        let object = JSONValue.object(members)
        #expect(JSONSchemaCheck.validate(object, against: try json(#"{"additionalProperties":{"enum":["v"]}}"#)) == nil)
        #expect(JSONSchemaCheck.validate(object, against: try json(#"{"additionalProperties":false}"#)) == "arguments: unexpected property 'k0'")
    }

    // MARK: enum and const

    @Test func enumOfStrings() throws {
        let schema = #"{"type":"string","enum":["celsius","fahrenheit"]}"#
        #expect(try check(#""celsius""#, schema) == nil)
        #expect(try check(#"{"unit":"kelvin"}"#, #"{"properties":{"unit":\#(schema)}}"#) == #"arguments.unit: 'kelvin' is not one of "celsius", "fahrenheit""#)
        #expect(try check(#""Celsius""#, schema) == #"arguments: 'Celsius' is not one of "celsius", "fahrenheit""#)
        // Strings compare by their scalars: a precomposed é is not e and a combining accent.
        #expect(JSONSchemaCheck.validate(.string("e\u{301}"), against: .object(["enum": .array([.string("\u{e9}")])])) != nil)
    }

    @Test func enumComparesNumbersByValue() throws {
        let schema = #"{"enum":[1, 2.5, 0, 1e100]}"#
        for same in ["1", "1.0", "1e0", "10E-1", "2.50", "25e-1", "0", "0.0", "-0.0", "1e100", "10e99"] {
            #expect(try check(same, schema) == nil, "\(same)")
        }
        #expect(try check("3", schema) == "arguments: 3 is not one of 1, 2.5, 0, 1e100")
        #expect(try check("1.0000000000000000000001", schema) != nil)
        #expect(try check(#""1""#, schema) == #"arguments: '1' is not one of 1, 2.5, 0, 1e100"#)
        #expect(try check("true", #"{"enum":[1]}"#) == "arguments: true is not one of 1")
        #expect(try check("9007199254740993", #"{"enum":[9007199254740992]}"#) != nil)
    }

    @Test func enumOfStructuredValues() throws {
        let schema = #"{"enum":[null, false, [1,"a"], {"x":[1.0]}]}"#
        for same in ["null", "false", #"[1.0,"a"]"#, #"{"x":[1]}"#] {
            #expect(try check(same, schema) == nil, "\(same)")
        }
        for other in ["true", #"["a",1]"#, #"[1,"a",null]"#, #"{"x":[1],"y":1}"#, #"{"y":[1]}"#, "{}", "[]", "0"] {
            #expect(try check(other, schema) != nil, "\(other)")
        }
        #expect(try check(#"{"b":[2],"a":"q"}"#, schema) == #"arguments: {"a":"q","b":[2]} is not one of null, false, [1,"a"], {"x":[1.0]}"#)
    }

    @Test func longEnumsAndValuesAreShortenedInMessages() throws {
        let options = (0..<25).map { #""o\#($0)""# }.joined(separator: ",")
        #expect(try check(#""x""#, #"{"enum":[\#(options)]}"#)
            == #"arguments: 'x' is not one of "o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9", … (25 in all)"#)
        let message = JSONSchemaCheck.validate(.array(Array(repeating: .int(123456), count: 1000)), against: .object(["const": .int(1)]))
        #expect(message == "arguments: [" + String(repeating: "123456,", count: 9) + "… is not the constant 1")
        // Quotes and control characters are escaped: a message is one line.
        #expect(JSONSchemaCheck.validate(.string("a'b\\c\nd\u{1}\u{2028}"), against: .object(["const": .string("x")]))
            == #"arguments: 'a\'b\\c\nd\u{1}\u{2028}' is not the constant "x""#)
    }

    @Test func const() throws {
        #expect(try check(#""slow""#, #"{"const":"slow"}"#) == nil)
        #expect(try check(#""fast""#, #"{"const":"slow"}"#) == #"arguments: 'fast' is not the constant "slow""#)
        #expect(try check("100", #"{"const":1e2}"#) == nil)
        #expect(try check("100.5", #"{"const":1e2}"#) == "arguments: 100.5 is not the constant 1e2")
        #expect(try check(#"{"a":[true,null]}"#, #"{"const":{"a":[true,null]}}"#) == nil)
        #expect(try check(#"{"a":[true]}"#, #"{"const":{"a":[true,null]}}"#) == #"arguments: {"a":[true]} is not the constant {"a":[true,null]}"#)
        #expect(try check("null", #"{"const":null}"#) == nil)
        #expect(try check("false", #"{"const":null}"#) == "arguments: false is not the constant null")
    }

    // MARK: Numeric bounds

    @Test func inclusiveAndExclusiveBounds() throws {
        let count = #"{"properties":{"count":{"type":"integer","minimum":1,"maximum":10}}}"#
        #expect(try check(#"{"count":1}"#, count) == nil)
        #expect(try check(#"{"count":10}"#, count) == nil)
        #expect(try check(#"{"count":0}"#, count) == "arguments.count: 0 is below the minimum 1")
        #expect(try check(#"{"count":11}"#, count) == "arguments.count: 11 is above the maximum 10")
        #expect(try check(#"{"count":10.0}"#, count) == nil)
        #expect(try check(#"{"count":10.5}"#, count) == "arguments.count: expected an integer, got 10.5")
        let open = #"{"exclusiveMinimum":0,"exclusiveMaximum":1.5}"#
        #expect(try check("0.001", open) == nil)
        #expect(try check("1.499", open) == nil)
        #expect(try check("0", open) == "arguments: 0 is not above the exclusive minimum 0")
        #expect(try check("-0.0", open) == "arguments: -0.0 is not above the exclusive minimum 0")
        #expect(try check("1.50", open) == "arguments: 1.50 is not below the exclusive maximum 1.5")
        #expect(try check("15e-1", open) == "arguments: 15e-1 is not below the exclusive maximum 1.5")
        #expect(try check(#""5""#, #"{"minimum":10}"#) == nil, "bounds apply to numbers only")
        #expect(try check("-1.5", #"{"minimum":-1.50}"#) == nil)
        #expect(try check("-1.51", #"{"minimum":-1.5}"#) == "arguments: -1.51 is below the minimum -1.5")
        #expect(try check("-2", #"{"maximum":-1e0}"#) == nil)
        #expect(try check("-0.5", #"{"maximum":-1e0}"#) == "arguments: -0.5 is above the maximum -1e0")
    }

    @Test func bigAndDecimalBoundsCompareExactly() throws {
        // 9007199254740993 is 2^53 + 1: as a Double it would equal 2^53.
        let schema = #"{"maximum":9007199254740993}"#
        #expect(try check("9007199254740992", schema) == nil)
        #expect(try check("9007199254740993", schema) == nil)
        #expect(try check("9007199254740994", schema) == "arguments: 9007199254740994 is above the maximum 9007199254740993")
        #expect(try check("9007199254740993.0000000001", schema) != nil)
        #expect(try check("9007199254740992.9999999999", schema) == nil)
        #expect(try check("9.007199254740994e15", schema) != nil)
        #expect(try check("9223372036854775807", #"{"minimum":-9223372036854775808,"maximum":9223372036854775807}"#) == nil)
        #expect(try check("-9223372036854775808", #"{"minimum":-9223372036854775808}"#) == nil)
        #expect(try check("9223372036854775808", #"{"maximum":9223372036854775807}"#) == "arguments: 9223372036854775808 is above the maximum 9223372036854775807")
        #expect(try check("-9223372036854775809", #"{"minimum":-9223372036854775808}"#) != nil)
        let huge = #"{"exclusiveMinimum":123456789012345678901234567890}"#
        #expect(try check("123456789012345678901234567890.000001", huge) == nil)
        #expect(try check("123456789012345678901234567890", huge) != nil)
        #expect(try check("1.2345678901234567890123456789e29", huge) != nil)
        #expect(try check("0.1", #"{"minimum":0.1}"#) == nil)
        #expect(try check("0.09999999999999999999", #"{"minimum":0.1}"#) == "arguments: 0.09999999999999999999 is below the minimum 0.1")
        #expect(try check("0.30000000000000004", #"{"exclusiveMaximum":0.3}"#) != nil)
        #expect(try check("0.29999999999999999999", #"{"exclusiveMaximum":0.3}"#) == nil)
        #expect(try check("1e-400", #"{"exclusiveMinimum":0}"#) == nil)
        #expect(try check("-1e-400", #"{"minimum":0}"#) != nil)
        #expect(try check("1e400", #"{"maximum":1e399}"#) != nil)
        // An exponent too long to hold is still above (or below) every schema number.
        #expect(JSONSchemaCheck.validate(.number("1e99999999999999999999999"), against: try json(#"{"maximum":1e999999999}"#)) != nil)
        #expect(JSONSchemaCheck.validate(.number("1e-99999999999999999999999"), against: try json(#"{"exclusiveMinimum":0,"maximum":1e-999999999}"#)) == nil)
    }

    @Test func exactDecimals() {
        func decimal(_ text: String) -> JSONSchemaCheck.ExactDecimal { JSONSchemaCheck.ExactDecimal(text: text)! }
        #expect(decimal("1.50").digits == Array("15".utf8))
        #expect(decimal("1.50").lastDigitPower == -1)
        #expect(decimal("1200").lastDigitPower == 2)
        #expect(decimal("0.05").leadPower == -1)
        #expect(decimal("-0.0e7").isZero && !decimal("-0.0e7").negative)
        #expect(decimal("1e2") == decimal("100.0"))
        #expect(decimal("-3") < decimal("-2.9999"))
        #expect(decimal("0") < decimal("1e-999"))
        #expect(decimal("-1e-999") < decimal("0"))
        #expect(decimal("99") < decimal("100"))
        #expect(decimal("1.23") < decimal("1.231"))
        for malformed in ["", "-", "01", "1.", ".5", "1e", "1e+", "+1", " 1", "1 ", "0x10", "1.2.3", "NaN", "--1", "1e5.0"] {
            #expect(JSONSchemaCheck.ExactDecimal(text: malformed) == nil, "\(malformed)")
        }
        #expect(JSONSchemaCheck.numberOrder(.int(2), .number("2.0")) == 0)
        #expect(JSONSchemaCheck.numberOrder(.int(Int64.max), .number("9223372036854775808")) == -1)
        #expect(JSONSchemaCheck.numberOrder(.string("1"), .int(1)) == nil)
    }

    // MARK: Strings

    @Test func lengthsCountUnicodeScalars() throws {
        let schema = #"{"type":"string","minLength":2,"maxLength":3}"#
        #expect(try check(#""ab""#, schema) == nil)
        #expect(try check(#""abc""#, schema) == nil)
        #expect(try check(#""a""#, schema) == "arguments: 'a' has 1 character, fewer than the minimum 2")
        #expect(try check(#""abcd""#, schema) == "arguments: 'abcd' has 4 characters, more than the maximum 3")
        // One scalar each, multi-byte in UTF-8.
        #expect(try check(#""éé""#, schema) == nil)
        #expect(try check(#""日本語""#, schema) == nil)
        // One character, two scalars: e and a combining acute accent; a thumb and a skin tone.
        #expect(JSONSchemaCheck.validate(.string("e\u{301}"), against: try json(#"{"maxLength":1}"#)) != nil)
        #expect(JSONSchemaCheck.validate(.string("👍🏽"), against: try json(#"{"minLength":2,"maxLength":2}"#)) == nil)
        #expect(try check("12345", #"{"minLength":9}"#) == nil, "lengths apply to strings only")
    }

    // MARK: Ignored and unknown keywords

    @Test func annotationsAreIgnored() throws {
        let schema = #"{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"t","description":"d","default":{"x":1},"examples":[1,"a"],"type":"integer"}"#
        #expect(try problem(schema) == nil)
        #expect(try check("1", schema) == nil)
        #expect(try check(#""1""#, schema) == "arguments: expected an integer, got a string")
    }

    @Test func validateIgnoresKeywordsItDoesNotKnow() throws {
        let schema = try json(#"{"type":"string","pattern":"^a$","format":"email","properties":{"x":{"oneOf":[]}}}"#)
        #expect(JSONSchemaCheck.problem(in: schema) == "schema: unsupported keyword 'format'")
        #expect(JSONSchemaCheck.validate(.string("zzz"), against: schema) == nil)
        #expect(JSONSchemaCheck.validate(.int(1), against: schema) == "arguments: expected a string, got a number")
        #expect(JSONSchemaCheck.validate(.int(1), against: .bool(true)) == nil)
        #expect(JSONSchemaCheck.validate(.int(1), against: try json(#"{"minimum":"3","type":7}"#)) == nil, "malformed keywords are ignored")
    }

    // MARK: Schemas refused

    @Test func badSchemas() throws {
        let cases: [(String, String)] = [
            (#"{"type":"str"}"#, "schema.type: unknown type 'str' (known: object, array, string, number, integer, boolean, null)"),
            (#"{"type":["string","float"]}"#, "schema.type[1]: unknown type 'float' (known: object, array, string, number, integer, boolean, null)"),
            (#"{"type":["string","string"]}"#, "schema.type[1]: 'string' is listed twice"),
            (#"{"type":[]}"#, "schema.type: expected at least one type name"),
            (#"{"type":3}"#, "schema.type: expected a type name or an array of type names, got a number"),
            (#"{"type":[null]}"#, "schema.type[0]: expected a type name, got null"),
            (#"{"properties":["a"]}"#, "schema.properties: expected an object of schemas, got an array"),
            (#"{"properties":{"a":"string"}}"#, "schema.properties.a: expected a schema object, got a string"),
            (#"{"properties":{"a":true}}"#, "schema.properties.a: expected a schema object, got a boolean"),
            (#"{"required":"a"}"#, "schema.required: expected an array of property names, got a string"),
            (#"{"required":["a",1]}"#, "schema.required[1]: expected a property name, got a number"),
            (#"{"required":["a","a"]}"#, "schema.required[1]: 'a' is listed twice"),
            (#"{"properties":{"a":{}},"required":["a","b"],"additionalProperties":false}"#,
             "schema.required[1]: 'b' is not in properties and additionalProperties is false, so no value can have it"),
            (#"{"additionalProperties":"no"}"#, "schema.additionalProperties: expected a boolean or a schema object, got a string"),
            (#"{"additionalProperties":{"type":"nothing"}}"#, "schema.additionalProperties.type: unknown type 'nothing' (known: object, array, string, number, integer, boolean, null)"),
            (#"{"items":[{"type":"string"}]}"#, "schema.items: expected a schema object, got an array (a list of item schemas is not supported)"),
            (#"{"items":{"items":{"minItems":-1}}}"#, "schema.items.items.minItems: expected a non-negative integer, got -1"),
            (#"{"minLength":1.5}"#, "schema.minLength: expected a non-negative integer, got 1.5"),
            (#"{"maxLength":"3"}"#, "schema.maxLength: expected a non-negative integer, got '3'"),
            (#"{"minLength":3,"maxLength":2}"#, "schema: minLength 3 is above maxLength 2"),
            (#"{"minItems":3,"maxItems":2}"#, "schema: minItems 3 is above maxItems 2"),
            (#"{"minimum":"0"}"#, "schema.minimum: expected a number, got a string"),
            (#"{"exclusiveMaximum":true}"#, "schema.exclusiveMaximum: expected a number, got a boolean"),
            (#"{"minimum":2,"maximum":1.5}"#, "schema: minimum 2 is above maximum 1.5"),
            (#"{"maximum":1e1234567890}"#, "schema.maximum: 1e1234567890 has an exponent of more than 9 digits"),
            (#"{"enum":[]}"#, "schema.enum: expected a non-empty array of values, got an empty array"),
            (#"{"enum":"a"}"#, "schema.enum: expected a non-empty array of values, got a string"),
            (#"{"enum":[1,[2e-12345678901]]}"#, "schema.enum[1]: 2e-12345678901 has an exponent of more than 9 digits"),
            (#"{"pattern":"^a"}"#, "schema: unsupported keyword 'pattern'"),
            (#"{"properties":{"a":{"items":{"format":"date","zeta":1}}}}"#, "schema.properties.a.items: unsupported keyword 'format'"),
            (#"{"allOf":[{}],"anyOf":[]}"#, "schema: unsupported keyword 'allOf'"),
            ("[]", "schema: expected a schema object, got an array"),
            ("true", "schema: expected a schema object, got a boolean"),
        ]
        for (schema, message) in cases {
            #expect(try problem(schema) == message, "\(schema)")
        }
        // Leading zeros of an exponent do not count; a schema number that is not JSON is refused.
        #expect(try problem(#"{"const":{"a":1e00000000000000000001}}"#) == nil)
        #expect(JSONSchemaCheck.problem(in: .object(["minimum": .number("1..0")])) == "schema.minimum: '1..0' is not a JSON number")
    }

    @Test func goodSchemas() throws {
        for schema in ["{}", #"{"type":"object"}"#, #"{"properties":{"a":{"properties":{"b":{"items":{}}}}}}"#,
                       #"{"type":["integer","null"],"minimum":-5,"exclusiveMaximum":1e3,"enum":[1,2,null]}"#,
                       #"{"additionalProperties":{"type":"array","minItems":0,"maxItems":0}}"#,
                       #"{"required":["a"],"additionalProperties":true}"#, #"{"required":[]}"#,
                       #"{"const":{"nested":[{"deep":[1.5e300]}]}}"#, #"{"minLength":2,"maxLength":2}"#] {
            #expect(try problem(schema) == nil, "\(schema)")
        }
    }

    // MARK: Depth

    @Test func depthLimitMatchesTheReader() throws {
        #expect(JSONSchemaCheck.depthMax == JSONReader.depthMax)
        for depth in 60...68 {
            let text = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
            let readable = (try? JSONReader.parse(Array(text.utf8))) != nil
            #expect(JSONSchemaCheck.nestsTooDeeply(nested(depth, around: .int(1))) == !readable, "depth \(depth)")
            let emptyText = String(repeating: "{\"a\":", count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
            let emptyReadable = (try? JSONReader.parse(Array(emptyText.utf8))) != nil
            var object: JSONValue = .object([:])
            for _ in 0..<(depth - 1) { object = .object(["a": object]) }
            #expect(JSONSchemaCheck.nestsTooDeeply(object) == !emptyReadable, "object depth \(depth)")
        }
    }

    @Test func deepValuesAndSchemasAreRefusedWithoutRecursion() throws {
        let deep = nested(5_000)
        #expect(JSONSchemaCheck.validate(deep, against: try json("{}")) == "arguments: nested deeper than 64 levels")
        #expect(JSONSchemaCheck.validate(nested(63), against: try json(#"{"type":"array"}"#)) == nil)
        #expect(JSONSchemaCheck.validate(nested(64), against: try json(#"{"type":"array"}"#)) == "arguments: nested deeper than 64 levels")

        var schema: JSONValue = .object(["type": .string("null")])
        for _ in 0..<5_000 { schema = .object(["items": schema]) }
        #expect(JSONSchemaCheck.problem(in: schema) == "schema: nested deeper than 64 levels")
        #expect(JSONSchemaCheck.problem(in: .object(["default": nested(100)])) == "schema: nested deeper than 64 levels")
        // `validate` on an unchecked deep schema goes only as deep as the value.
        #expect(JSONSchemaCheck.validate(nested(3), against: schema) == nil)
        #expect(JSONSchemaCheck.validate(nested(5, around: .int(1)), against: schema) == nil)

        // A schema nested to just within the limit is accepted and checks its deepest value.
        var items: JSONValue = .object(["type": .string("string")])
        for _ in 0..<31 { items = .object(["items": items]) }
        #expect(JSONSchemaCheck.problem(in: items) == nil)
        let path = "arguments" + String(repeating: "[0]", count: 31)
        #expect(JSONSchemaCheck.validate(nested(31, around: .int(1)), against: items) == "\(path): expected a string, got a number")
    }
}
