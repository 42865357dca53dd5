/// A validated JSON document as a flat list of nodes over its own bytes, built in one pass: what
/// admission reads from a request body without building a tree of values (no string, dictionary or
/// array per member; one growing node array for the whole document).
///
/// Same grammar, limits and failures as `JSONReader`: strict RFC 8259, UTF-8, nesting depth at most
/// `JSONReader.depthMax`, duplicate object keys refused. A value's node is followed by its
/// children: an object by (key, value) pairs, an array by its items; `next` skips the subtree.
struct JSONTape {
    enum Kind: UInt8 {
        case object, array, key, string, integer, number, `true`, `false`, null
    }

    /// 20 bytes: offsets are stored as `Int32` (a document is refused beyond `bytesMax`), so a
    /// hostile body of tiny values costs at most ten times its size in nodes.
    struct Node {
        var kind: Kind
        /// Strings and keys: the text holds at least one escape.
        var escaped = false
        private var start32: Int32
        private var end32: Int32
        private var next32: Int32 = 0
        private var count32: Int32 = 0

        init(kind: Kind, escaped: Bool = false, start: Int, end: Int, count: Int = 0) {
            self.kind = kind
            self.escaped = escaped
            start32 = Int32(start)
            end32 = Int32(end)
            count32 = Int32(count)
        }

        /// Strings and keys: the first byte after the opening quote; other values: their first byte.
        var start: Int { Int(start32) }
        /// Strings and keys: the closing quote; other values: one past their last byte.
        var end: Int {
            get { Int(end32) }
            set { end32 = Int32(newValue) }
        }
        /// Index of the node after this value and everything inside it.
        var next: Int {
            get { Int(next32) }
            set { next32 = Int32(newValue) }
        }
        /// Objects: members; arrays: items; strings and keys: UTF-8 bytes once unescaped.
        var count: Int {
            get { Int(count32) }
            set { count32 = Int32(newValue) }
        }
    }

    /// The largest document read (request bodies are far smaller: `HTTPParserLimits.bodyBytesMax`).
    static let bytesMax = Int(Int32.max) - 1

    /// Objects with more members than this check duplicate keys with a set instead of comparing
    /// each key with the earlier ones (bounded work for hostile bodies).
    static let linearKeyCheckMax = 16

    let bytes: [UInt8]
    private(set) var nodes: [Node] = []
    private var index = 0

    static func parse(_ bytes: [UInt8]) throws(JSONReader.Failure) -> JSONTape {
        var tape = JSONTape(bytes: bytes)
        guard bytes.count <= bytesMax else { throw JSONReader.Failure(offset: 0, reason: "document too large") }
        tape.nodes.reserveCapacity(64)
        try tape.value(depth: 0)
        tape.skipWhitespace()
        guard tape.index == bytes.count else { throw tape.failure("unexpected data after the value") }
        return tape
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    // MARK: Reading

    static let root = 0

    func kind(_ node: Int) -> Kind { nodes[node].kind }

    /// The value of `key` in the object at `object`, if present.
    func member(_ object: Int, _ key: StaticString) -> Int? {
        var at = object + 1
        for _ in 0..<nodes[object].count {
            if textEquals(at, key) { return at + 1 }
            at = nodes[at + 1].next
        }
        return nil
    }

    /// Visits the items of the array at `array`, in order.
    func forEachItem<E: Error>(_ array: Int, _ body: (Int) throws(E) -> Void) throws(E) {
        var at = array + 1
        for _ in 0..<nodes[array].count {
            try body(at)
            at = nodes[at].next
        }
    }

    /// True when the string (or key) at `node` is exactly `text`.
    func textEquals(_ node: Int, _ text: StaticString) -> Bool {
        let n = nodes[node]
        guard n.kind == .string || n.kind == .key else { return false }
        return text.withUTF8Buffer { expected in
            if n.escaped { return unescaped(n) == Array(expected) }
            guard n.end - n.start == expected.count else { return false }
            return bytes.withUnsafeBufferPointer { all in
                for offset in 0..<expected.count where all[n.start + offset] != expected[offset] { return false }
                return true
            }
        }
    }

    /// The text of the string (or key) at `node`.
    func string(_ node: Int) -> String {
        let n = nodes[node]
        if n.escaped { return String(decoding: unescaped(n), as: UTF8.self) }
        return String(decoding: bytes[n.start..<n.end], as: UTF8.self)
    }

    /// The value at `node` when it is an integer that fits `Int64` (as `JSONReader` reads `.int`).
    func int(_ node: Int) -> Int64? {
        let n = nodes[node]
        guard n.kind == .integer else { return nil }
        return Int64(String(decoding: bytes[n.start..<n.end], as: UTF8.self))
    }

    /// UTF-8 bytes of every string value inside the value at `node` (keys excluded).
    func stringValueBytes(_ node: Int) -> Int64 {
        var total: Int64 = 0
        for at in node..<nodes[node].next where nodes[at].kind == .string { total &+= Int64(nodes[at].count) }
        return total
    }

    /// The value at `node` as a tree of `JSONValue`s.
    func value(_ node: Int) -> JSONValue {
        let n = nodes[node]
        switch n.kind {
        case .null: return .null
        case .true: return .bool(true)
        case .false: return .bool(false)
        case .integer: return int(node).map { .int($0) } ?? .number(String(decoding: bytes[n.start..<n.end], as: UTF8.self))
        case .number: return .number(String(decoding: bytes[n.start..<n.end], as: UTF8.self))
        case .string, .key: return .string(string(node))
        case .array:
            var items: [JSONValue] = []
            items.reserveCapacity(n.count)
            forEachItem(node) { items.append(value($0)) }
            return .array(items)
        case .object:
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(n.count)
            var at = node + 1
            for _ in 0..<n.count {
                members[string(at)] = value(at + 1)
                at = nodes[at + 1].next
            }
            return .object(members)
        }
    }

    // MARK: Building

    private func failure(_ reason: String) -> JSONReader.Failure { JSONReader.Failure(offset: index, reason: reason) }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == 0x20 || byte == 0x0a || byte == 0x0d || byte == 0x09 else { return }
            index += 1
        }
    }

    private mutating func value(depth: Int) throws(JSONReader.Failure) {
        guard depth < JSONReader.depthMax else { throw failure("nested too deeply") }
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): try object(depth: depth)
        case UInt8(ascii: "["): try array(depth: depth)
        case UInt8(ascii: "\""): try string(kind: .string)
        case UInt8(ascii: "t"): try literal("true", .true)
        case UInt8(ascii: "f"): try literal("false", .false)
        case UInt8(ascii: "n"): try literal("null", .null)
        default: try number()
        }
    }

    private mutating func append(_ node: Node) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    private mutating func literal(_ word: StaticString, _ kind: Kind) throws(JSONReader.Failure) {
        let matches = word.withUTF8Buffer { expected in
            guard index + expected.count <= bytes.count else { return false }
            for offset in 0..<expected.count where bytes[index + offset] != expected[offset] { return false }
            return true
        }
        guard matches else { throw failure("unknown literal") }
        let start = index
        index += word.utf8CodeUnitCount
        let at = append(Node(kind: kind, start: start, end: index))
        nodes[at].next = at + 1
    }

    private mutating func number() throws(JSONReader.Failure) {
        let start = index
        func digits() -> Int {
            let from = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            return index - from
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits()
        guard integerDigits > 0 else { throw failure("expected a value") }
        if integerDigits > 1, bytes[integerStart] == 0x30 { throw failure("leading zero") }
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            integral = false
            guard digits() > 0 else { throw failure("expected digits after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            integral = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw failure("expected digits in the exponent") }
        }
        let fitsInt64 = integral && Int64(String(decoding: bytes[start..<index], as: UTF8.self)) != nil
        let at = append(Node(kind: fitsInt64 ? .integer : .number, start: start, end: index))
        nodes[at].next = at + 1
    }

    /// A string or key: validated (escapes, control characters, UTF-8) and measured, not copied.
    /// Ill-formed UTF-8 is reported at the closing quote, as `JSONReader` does, so that any other
    /// fault of the string is reported first.
    private mutating func string(kind: Kind) throws(JSONReader.Failure) {
        index += 1
        let start = index
        var escaped = false
        var wellFormed = true
        var decoded = 0
        while true {
            // A run of plain ASCII (no quote, backslash or control byte) is the common case.
            let runEnd = bytes.withUnsafeBufferPointer { Self.plainRunEnd($0, from: index) }
            decoded += runEnd - index
            index = runEnd
            guard index < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                guard wellFormed else { throw failure("invalid UTF-8") }
                let at = append(Node(kind: kind, escaped: escaped, start: start, end: index, count: decoded))
                nodes[at].next = at + 1
                index += 1
                return
            case UInt8(ascii: "\\"):
                escaped = true
                index += 1
                guard index < bytes.count else { throw failure("unterminated escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    decoded += 1
                case UInt8(ascii: "u"):
                    decoded += try unicodeEscape()
                default: throw failure("unknown escape")
                }
            case 0..<0x20: throw failure("control character in string")
            case 0..<0x80:
                decoded += 1
                index += 1
            default:
                if let length = Self.utf8SequenceLength(bytes, at: index) {
                    decoded += length
                    index += length
                } else {
                    wellFormed = false
                    index += 1
                }
            }
        }
    }

    /// The end of the run of plain string bytes — ASCII from 0x20 except `"` and `\` — that starts
    /// at `from`: eight bytes at a time while a whole word is plain (each test below says exactly
    /// whether any of the word's bytes is of its kind), then byte by byte up to the first other.
    static func plainRunEnd(_ buffer: UnsafeBufferPointer<UInt8>, from: Int) -> Int {
        var at = from
        if let base = buffer.baseAddress {
            let raw = UnsafeRawPointer(base)
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while at + 8 <= buffer.count {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let control = (word &- ones &* 0x20) & ~word                  // a byte below 0x20
                let quoteFound = (quote &- ones) & ~quote                     // a byte equal to `"`
                let backslashFound = (backslash &- ones) & ~backslash         // a byte equal to `\`
                if (control | word | quoteFound | backslashFound) & highs != 0 { break }   // `word`: a byte from 0x80
                at += 8
            }
        }
        while at < buffer.count {
            let byte = buffer[at]
            if byte < 0x20 || byte >= 0x80 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
            at += 1
        }
        return at
    }

    /// After `\u`: one escaped scalar (a surrogate pair counts as one); returns its UTF-8 length.
    private mutating func unicodeEscape() throws(JSONReader.Failure) -> Int {
        var scalar = try hex4()
        if (0xD800...0xDBFF).contains(scalar) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw failure("lone surrogate") }
            index += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw failure("lone surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw failure("lone surrogate")
        }
        switch scalar {
        case 0..<0x80: return 1
        case 0x80..<0x800: return 2
        case 0x800..<0x10000: return 3
        default: return 4
        }
    }

    private mutating func hex4() throws(JSONReader.Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("short \\u escape") }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[index + offset]
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw failure("bad \\u escape")
            }
            value = value << 4 | digit
        }
        index += 4
        return value
    }

    /// Length of the well-formed UTF-8 sequence of two to four bytes starting at `at`, or nil
    /// (overlong forms, surrogates, beyond U+10FFFF and truncated sequences are ill-formed).
    static func utf8SequenceLength(_ bytes: [UInt8], at: Int) -> Int? {
        let lead = bytes[at]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return nil
        }
        guard at + length <= bytes.count else { return nil }
        guard (low...high).contains(bytes[at + 1]) else { return nil }
        for offset in 2..<length where !(0x80...0xBF).contains(bytes[at + offset]) { return nil }
        return length
    }

    private mutating func array(depth: Int) throws(JSONReader.Failure) {
        let at = append(Node(kind: .array, start: index, end: index))
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return close(at)
        }
        while true {
            try value(depth: depth + 1)
            nodes[at].count += 1
            skipWhitespace()
            guard index < bytes.count else { throw failure("unterminated array") }
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "]") { return close(at) }
            guard byte == UInt8(ascii: ",") else { throw failure("expected ',' or ']'") }
        }
    }

    private mutating func object(depth: Int) throws(JSONReader.Failure) {
        let at = append(Node(kind: .object, start: index, end: index))
        index += 1
        var seenKeys: Set<[UInt8]>?
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return close(at)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a key") }
            try string(kind: .key)
            let key = nodes.count - 1
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
            index += 1
            try checkUniqueKey(key, object: at, seen: &seenKeys)
            try value(depth: depth + 1)
            nodes[at].count += 1
            skipWhitespace()
            guard index < bytes.count else { throw failure("unterminated object") }
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "}") { return close(at) }
            guard byte == UInt8(ascii: ",") else { throw failure("expected ',' or '}'") }
        }
    }

    private mutating func close(_ at: Int) {
        nodes[at].end = index
        nodes[at].next = nodes.count
    }

    /// Refuses `key` when an earlier member of `object` has the same (unescaped) text.
    private func checkUniqueKey(_ key: Int, object: Int, seen: inout Set<[UInt8]>?) throws(JSONReader.Failure) {
        let earlier = nodes[object].count
        if earlier < Self.linearKeyCheckMax {
            var at = object + 1
            for _ in 0..<earlier {
                if sameText(at, key) { throw duplicate(key) }
                at = nodes[at + 1].next
            }
            return
        }
        if seen == nil {
            var keys = Set<[UInt8]>()
            var at = object + 1
            for _ in 0..<earlier {
                keys.insert(unescaped(nodes[at]))
                at = nodes[at + 1].next
            }
            seen = keys
        }
        guard seen!.insert(unescaped(nodes[key])).inserted else { throw duplicate(key) }
    }

    private func duplicate(_ key: Int) -> JSONReader.Failure {
        JSONReader.Failure(offset: index, reason: "duplicate key '\(string(key))'")
    }

    private func sameText(_ a: Int, _ b: Int) -> Bool {
        let x = nodes[a], y = nodes[b]
        if x.escaped || y.escaped { return unescaped(x) == unescaped(y) }
        guard x.end - x.start == y.end - y.start else { return false }
        return bytes[x.start..<x.end].elementsEqual(bytes[y.start..<y.end])
    }

    /// The UTF-8 bytes a (validated) string node stands for.
    private func unescaped(_ n: Node) -> [UInt8] {
        guard n.escaped else { return Array(bytes[n.start..<n.end]) }
        var out = [UInt8]()
        out.reserveCapacity(n.count)
        var at = n.start
        func hex4(_ from: Int) -> UInt32 {
            var value: UInt32 = 0
            for byte in bytes[from..<from + 4] {
                let digit: UInt32 = switch byte {
                case 0x30...0x39: UInt32(byte - 0x30)
                case 0x41...0x46: UInt32(byte - 0x41 + 10)
                default: UInt32(byte - 0x61 + 10)
                }
                value = value << 4 | digit
            }
            return value
        }
        while at < n.end {
            let byte = bytes[at]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                at += 1
                continue
            }
            let escape = bytes[at + 1]
            at += 2
            switch escape {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(at)
                at += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (hex4(at + 2) - 0xDC00)
                    at += 6
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: out.append(escape)  // '"', '\\', '/'
            }
        }
        return out
    }
}
