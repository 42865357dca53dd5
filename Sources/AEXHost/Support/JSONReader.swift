/// A strict JSON reader for AEX's own documents (admin API bodies, ledger payloads): RFC 8259
/// syntax, UTF-8, nesting depth at most `depthMax`, duplicate object keys refused. Integers that fit
/// `Int64` become `.int`; other numbers keep their text as `.number`. Reads through `JSONTape` (the
/// one scanner) and builds the tree of values from it.
public enum JSONReader {
    public static let depthMax = 64

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    public static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        try JSONTape.parse(bytes).value(JSONTape.root)
    }
}
