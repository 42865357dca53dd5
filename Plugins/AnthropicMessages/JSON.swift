/// A JSON value for translation between request shapes: objects keep their members' order, numbers
/// keep their text (no rounding through Double), strings are decoded. Parsing is bounded in depth
/// and never traps; malformed input throws.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    /// A number, as its JSON text (already checked to be a JSON number).
    case number(String)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The last member named `key` of an object (JSON's usual reading of repeated keys); nil otherwise.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var members: [(String, JSON)]? { if case .object(let m) = self { return m } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// The value of an integer number that fits Int64 (no fraction, no exponent); nil otherwise.
    public var int64: Int64? {
        guard case .number(let text) = self else { return nil }
        return Int64(text)
    }

    /// The value of any number, as a Double (for range checks only; the text is what is sent).
    public var double: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    // MARK: Writing

    /// Compact JSON text.
    public var text: String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSON.writeString(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeString(member.0, to: &out)
                out.append(UInt8(ascii: ":"))
                member.1.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5c, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5c, 0x5c])
            case 0x0a: out.append(contentsOf: [0x5c, UInt8(ascii: "n")])
            case 0x0d: out.append(contentsOf: [0x5c, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5c, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5c, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xf)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: Reading

    public struct Malformed: Error, Equatable {
        public let offset: Int
    }

    /// Nesting deeper than this is refused (a hostile body cannot exhaust the stack).
    public static let depthMax = 64

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(Malformed) -> JSON {
        var reader = Reader(bytes: bytes)
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.offset == bytes.count else { throw Malformed(offset: reader.offset) }
        return value
    }

    public static func parse(_ bytes: [UInt8]) throws(Malformed) -> JSON {
        do {
            return try bytes.withUnsafeBytes { view throws(Malformed) -> JSON in try parse(view) }
        } catch let error as Malformed {
            throw error
        } catch {
            throw Malformed(offset: 0)
        }
    }

    public static func parse(_ text: String) throws(Malformed) -> JSON { try parse(Array(text.utf8)) }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var peek: UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func skipSpace() {
            while let b = peek, b == 0x20 || b == 0x0a || b == 0x0d || b == 0x09 { offset += 1 }
        }

        func fail() -> Malformed { Malformed(offset: offset) }

        mutating func expect(_ literal: StaticString) throws(Malformed) {
            let count = literal.utf8CodeUnitCount
            guard offset + count <= bytes.count else { throw fail() }
            for i in 0..<count where bytes[offset + i] != literal.utf8Start[i] { throw fail() }
            offset += count
        }

        mutating func value(depth: Int) throws(Malformed) -> JSON {
            guard depth < JSON.depthMax, let b = peek else { throw fail() }
            switch b {
            case UInt8(ascii: "{"):
                offset += 1
                var members: [(String, JSON)] = []
                skipSpace()
                if peek == UInt8(ascii: "}") { offset += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard peek == UInt8(ascii: "\"") else { throw fail() }
                    let key = try string()
                    skipSpace()
                    guard peek == UInt8(ascii: ":") else { throw fail() }
                    offset += 1
                    skipSpace()
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    if peek == UInt8(ascii: ",") { offset += 1; continue }
                    if peek == UInt8(ascii: "}") { offset += 1; return .object(members) }
                    throw fail()
                }
            case UInt8(ascii: "["):
                offset += 1
                var items: [JSON] = []
                skipSpace()
                if peek == UInt8(ascii: "]") { offset += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    if peek == UInt8(ascii: ",") { offset += 1; continue }
                    if peek == UInt8(ascii: "]") { offset += 1; return .array(items) }
                    throw fail()
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func number() throws(Malformed) -> String {
            let start = offset
            if peek == UInt8(ascii: "-") { offset += 1 }
            guard let first = peek, first >= 0x30, first <= 0x39 else { throw fail() }
            offset += 1
            if first != 0x30 { digits() }
            if peek == UInt8(ascii: ".") {
                offset += 1
                guard let d = peek, d >= 0x30, d <= 0x39 else { throw fail() }
                digits()
            }
            if let e = peek, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                offset += 1
                if let s = peek, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { offset += 1 }
                guard let d = peek, d >= 0x30, d <= 0x39 else { throw fail() }
                digits()
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
        }

        mutating func digits() {
            while let d = peek, d >= 0x30, d <= 0x39 { offset += 1 }
        }

        mutating func string() throws(Malformed) -> String {
            offset += 1  // the opening quote
            var out: [UInt8] = []
            while true {
                guard let b = peek else { throw fail() }
                offset += 1
                switch b {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else { throw Malformed(offset: offset) }
                    return text
                case UInt8(ascii: "\\"):
                    guard let e = peek else { throw fail() }
                    offset += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5c)
                    case UInt8(ascii: "/"): out.append(0x2f)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xd800..<0xdc00).contains(scalar) {
                            // A high surrogate must be followed by its low half.
                            try expect("\\u")
                            let low = try hex4()
                            guard (0xdc00..<0xe000).contains(low) else { throw fail() }
                            scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                        } else if (0xdc00..<0xe000).contains(scalar) {
                            throw fail()
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw fail() }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: throw fail()
                    }
                case 0..<0x20: throw fail()
                default: out.append(b)
                }
            }
        }

        mutating func hex4() throws(Malformed) -> UInt32 {
            guard offset + 4 <= bytes.count else { throw fail() }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[offset]
                let digit: UInt32
                switch c {
                case 0x30...0x39: digit = UInt32(c - 0x30)
                case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
                case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
                default: throw fail()
                }
                value = value << 4 | digit
                offset += 1
            }
            return value
        }
    }
}
