import Testing
@testable import AEXHost

/// Two request bodies that differ only in spelling have one canonical text; two that differ in
/// value never do.
@Suite struct CanonicalJSONTextTests {
    func canonical(_ text: String) throws -> String {
        String(decoding: try JSONTape.parse(Array(text.utf8)).canonicalText(), as: UTF8.self)
    }

    @Test func keyOrderWhitespaceAndEscapesDoNotMatter() throws {
        let a = try canonical(#"{"model":"m","messages":[{"role":"user","content":"hi"}],"n":1}"#)
        let b = try canonical("{ \"n\" : 1,\n \"messages\" : [ { \"content\" : \"h\\u0069\", \"role\" : \"user\" } ],\t\"model\":\"m\" }")
        #expect(a == b)
        #expect(a == #"{"messages":[{"content":"hi","role":"user"}],"model":"m","n":1}"#)
    }

    @Test func numbersAreComparedByTheirExactValue() throws {
        let spellings = ["1", "1.0", "1e0", "1E+0", "10E-1", "0.1e1", "1.000"]
        let texts = try Set(spellings.map { try canonical("[\($0)]") })
        #expect(texts == ["[1]"])
        #expect(try canonical("[-0, 0.0, -0e5]") == "[0,0,0]")
        #expect(try canonical("[100, 1e2, 0.5, 5e-1, 1.50, -2.5e3, 123456789012345678901234567890]")
            == "[1e2,1e2,5e-1,5e-1,15e-1,-25e2,12345678901234567890123456789e1]")
    }

    @Test func differentValuesStayDifferent() throws {
        let pairs = [
            ("[0.1]", "[0.10000000000000001]"), ("[1]", "[-1]"), ("[1]", "[\"1\"]"), ("{\"a\":1}", "{\"A\":1}"),
            ("[1,2]", "[2,1]"), ("{\"a\":null}", "{}"), ("[true]", "[1]"), ("[9007199254740993]", "[9007199254740992]"),
        ]
        for (a, b) in pairs { #expect(try canonical(a) != canonical(b), "\(a) vs \(b)") }
    }

    @Test func keysSortByTheirUTF8Bytes() throws {
        #expect(try canonical(#"{"é":1,"z":2,"Z":3,"a":4}"#) == #"{"Z":3,"a":4,"z":2,"é":1}"#)
    }
}
