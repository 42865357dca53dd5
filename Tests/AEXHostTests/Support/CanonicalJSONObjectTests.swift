import Testing
@testable import AEXHost

@Suite struct CanonicalJSONObjectTests {
    @Test func writesWhatJSONValueWrites() {
        var object = CanonicalJSONObject()
        object.int("a_negative", -42)
        object.bool("b_flag", true)
        object.int("c_absent", nil as Int64?)
        object.string("d_text", "quote \" backslash \\ newline \n tab \t bell \u{07} é")
        object.string("e_absent", nil)
        object.int("f_max", Int64.max)
        object.int("g_min", Int64.min)
        object.int("h_zero", 0)
        let expected = JSONValue.object([
            "a_negative": .int(-42), "b_flag": .bool(true), "c_absent": .null,
            "d_text": .string("quote \" backslash \\ newline \n tab \t bell \u{07} é"), "e_absent": .null,
            "f_max": .int(Int64.max), "g_min": .int(Int64.min), "h_zero": .int(0),
        ]).canonicalText
        #expect(String(decoding: object.finish(), as: UTF8.self) == expected)
    }

    @Test func anEmptyObject() {
        var object = CanonicalJSONObject()
        #expect(object.finish() == Array("{}".utf8))
    }
}
