#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A byte scanner for the top level of one JSON object. Not a decoder: nested values are skipped by
/// following strings (with escapes) and bracket nesting, and only the top level's structure
/// (`"key" : value , ...`) is checked. Reports as nil: not an object, an unterminated string,
/// unbalanced or mismatched brackets, a missing `:` or `,`, an empty or stray value, and anything but
/// whitespace after the closing brace. Never traps on any input; no Foundation, no recursion.
///
/// Reading members: a key is compared by its decoded value (`"mod\u0065l"` is `model`), and when a
/// key repeats the last one is read, as common JSON parsers do.
enum JSONTopLevelScanner {
    /// One member of a JSON object, as byte ranges into the scanned buffer.
    struct Member: Equatable, Sendable {
        /// The key's contents between its quotes, still escaped as written.
        var key: Range<Int>
        /// The value, from its first byte to one past its last (surrounding whitespace excluded).
        var value: Range<Int>
    }

    /// Where an object's braces and members are.
    struct Layout: Equatable, Sendable {
        /// Index of the opening `{`.
        var open: Int
        /// Index of the closing `}`.
        var close: Int
        /// The members in the order written (duplicates kept).
        var members: [Member]
    }

    // MARK: Scanning

    /// The layout of `bytes`, which must hold one JSON object and nothing but whitespace around it.
    static func scan(_ bytes: UnsafeRawBufferPointer) -> Layout? {
        scanObject(bytes, in: 0..<bytes.count)
    }

    static func scan(_ bytes: [UInt8]) -> Layout? {
        bytes.withUnsafeBytes { scan($0) }
    }

    /// The layout of the object in `range` of `bytes` (indices stay those of `bytes`).
    static func scanObject(_ b: UnsafeRawBufferPointer, in range: Range<Int>) -> Layout? {
        guard range.lowerBound >= 0, range.upperBound <= b.count else { return nil }
        let end = range.upperBound
        var i = skipWhitespace(b, range.lowerBound, end)
        guard i < end, b[i] == JSONByte.openBrace else { return nil }
        let open = i
        var members: [Member] = []
        members.reserveCapacity(8)
        i = skipWhitespace(b, i + 1, end)
        guard i < end else { return nil }
        let close: Int
        if b[i] == JSONByte.closeBrace {
            close = i
        } else {
            while true {
                guard i < end, b[i] == JSONByte.quote, let keyClose = stringEnd(b, i, end) else { return nil }
                let key = (i + 1)..<keyClose
                i = skipWhitespace(b, keyClose + 1, end)
                guard i < end, b[i] == JSONByte.colon else { return nil }
                i = skipWhitespace(b, i + 1, end)
                guard i < end, let valueEnd = valueEnd(b, i, end) else { return nil }
                members.append(Member(key: key, value: i..<valueEnd))
                i = skipWhitespace(b, valueEnd, end)
                guard i < end else { return nil }
                if b[i] == JSONByte.comma {
                    i = skipWhitespace(b, i + 1, end)
                    continue
                }
                guard b[i] == JSONByte.closeBrace else { return nil }
                close = i
                break
            }
        }
        guard skipWhitespace(b, close + 1, end) == end else { return nil }
        return Layout(open: open, close: close, members: members)
    }

    @inline(__always)
    private static func skipWhitespace(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int {
        var i = start
        while i < end {
            switch b[i] {
            case JSONByte.space, JSONByte.tab, JSONByte.newline, JSONByte.carriageReturn: i += 1
            default: return i
            }
        }
        return i
    }

    /// Index of the quote closing the string whose opening quote is at `quote`, or nil. Finds each
    /// candidate quote with memchr (strings are most of a body's bytes); a quote is escaped when an
    /// odd number of backslashes, all inside the string, precede it.
    @inline(__always)
    private static func stringEnd(_ b: UnsafeRawBufferPointer, _ quote: Int, _ end: Int) -> Int? {
        guard let base = b.baseAddress else { return nil }
        let first = quote + 1
        var i = first
        while i < end {
            guard let hit = memchr(base + i, Int32(JSONByte.quote), end - i) else { return nil }
            let q = base.distance(to: UnsafeRawPointer(hit))
            var backslashes = 0
            while q - backslashes - 1 >= first, b[q - backslashes - 1] == JSONByte.backslash { backslashes += 1 }
            if backslashes & 1 == 0 { return q }
            i = q + 1
        }
        return nil
    }

    /// One past the end of the value starting at `start`, or nil when it is malformed.
    private static func valueEnd(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        switch b[start] {
        case JSONByte.quote:
            return stringEnd(b, start, end).map { $0 + 1 }
        case JSONByte.openBrace, JSONByte.openBracket:
            return nestedEnd(b, start, end)
        default:
            // A number, true, false or null: a run of the bytes those are written with.
            var i = start
            while i < end, isScalarByte(b[i]) { i += 1 }
            return i > start ? i : nil
        }
    }

    @inline(__always)
    private static func isScalarByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    /// One past the bracket closing the object or array opened at `start`, or nil when the brackets
    /// do not balance (or an object is closed by `]` and the reverse). Any depth: the first 64 levels
    /// live in one word, deeper ones in an array allocated only for such input.
    private static func nestedEnd(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        var depth = 0
        var objectBits: UInt64 = 0 // bit d set: level d is an object
        var deeper: [Bool] = []
        var i = start
        while i < end {
            let c = b[i]
            switch c {
            case JSONByte.quote:
                guard let close = stringEnd(b, i, end) else { return nil }
                i = close
            case JSONByte.openBrace, JSONByte.openBracket:
                let isObject = c == JSONByte.openBrace
                if depth < 64 {
                    if isObject { objectBits |= 1 << UInt64(depth) } else { objectBits &= ~(1 << UInt64(depth)) }
                } else {
                    deeper.append(isObject)
                }
                depth += 1
            case JSONByte.closeBrace, JSONByte.closeBracket:
                guard depth > 0 else { return nil }
                depth -= 1
                let wasObject = depth < 64 ? objectBits & (1 << UInt64(depth)) != 0 : (deeper.popLast() ?? false)
                guard wasObject == (c == JSONByte.closeBrace) else { return nil }
                if depth == 0 { return i + 1 }
            default:
                break
            }
            i += 1
        }
        return nil
    }

    // MARK: Reading members

    /// Whether the member's key, decoded, is exactly `name` (an ASCII literal).
    static func keyEquals(_ b: UnsafeRawBufferPointer, _ member: Member, _ name: StaticString) -> Bool {
        let key = member.key
        let count = name.utf8CodeUnitCount
        // Escapes only lengthen what they stand for, so a shorter key can never match.
        guard key.count >= count else { return false }
        let literal = UnsafeRawBufferPointer(start: name.utf8Start, count: count)
        if key.count == count {
            var same = true
            for k in 0..<count where b[key.lowerBound + k] != literal[k] {
                same = false
                break
            }
            if same { return true }
        }
        // Only a key written with escapes can still match.
        var escaped = false
        for k in key where b[k] == JSONByte.backslash {
            escaped = true
            break
        }
        guard escaped, let decoded = decodeString(b, key), decoded.count == count else { return false }
        for k in 0..<count where decoded[k] != literal[k] { return false }
        return true
    }

    /// The last top-level member named `name`.
    static func lastMember(_ b: UnsafeRawBufferPointer, _ layout: Layout, _ name: StaticString) -> Member? {
        for member in layout.members.reversed() where keyEquals(b, member, name) { return member }
        return nil
    }

    /// The value in `range` read as a JSON integer (`-?[0-9]+`) that fits an Int64; nil otherwise
    /// (fractions, exponents, strings, overflow).
    static func integer(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int64? {
        guard range.lowerBound >= 0, range.upperBound <= b.count, !range.isEmpty else { return nil }
        var i = range.lowerBound
        let negative = b[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < range.upperBound else { return nil }
        var value: Int64 = 0
        while i < range.upperBound {
            let c = b[i]
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(c &- UInt8(ascii: "0"))
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
            i += 1
        }
        return value
    }

    /// The integer value of the top-level key `name`, if it is one.
    static func integerValue(_ b: UnsafeRawBufferPointer, _ layout: Layout, forKey name: StaticString) -> Int64? {
        lastMember(b, layout, name).flatMap { integer(b, $0.value) }
    }

    /// The decoded string value of the top-level key `name`, if it is a string.
    static func stringValue(_ b: UnsafeRawBufferPointer, _ layout: Layout, forKey name: StaticString) -> [UInt8]? {
        guard let member = lastMember(b, layout, name), member.value.count >= 2,
              b[member.value.lowerBound] == JSONByte.quote else { return nil }
        return decodeString(b, (member.value.lowerBound + 1)..<(member.value.upperBound - 1))
    }

    /// The integer `name` inside the object value of the top-level key `object`
    /// (e.g. `usage.prompt_tokens`); nil when either is missing or of another type.
    static func nestedInteger(_ b: UnsafeRawBufferPointer, _ layout: Layout,
                              object: StaticString, key name: StaticString) -> Int64? {
        guard let outer = lastMember(b, layout, object), b[outer.value.lowerBound] == JSONByte.openBrace,
              let inner = scanObject(b, in: outer.value) else { return nil }
        return integerValue(b, inner, forKey: name)
    }

    /// The UTF-8 bytes a JSON string's contents (between its quotes) stand for; nil on a bad escape.
    /// A lone surrogate becomes U+FFFD.
    static func decodeString(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> [UInt8]? {
        guard range.lowerBound >= 0, range.upperBound <= b.count else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let c = b[i]
            guard c == JSONByte.backslash else {
                out.append(c)
                i += 1
                continue
            }
            guard i + 1 < end else { return nil }
            let e = b[i + 1]
            i += 2
            switch e {
            case JSONByte.quote, JSONByte.backslash, UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(JSONByte.newline)
            case UInt8(ascii: "r"): out.append(JSONByte.carriageReturn)
            case UInt8(ascii: "t"): out.append(JSONByte.tab)
            case UInt8(ascii: "u"):
                guard let unit = hex4(b, i, end) else { return nil }
                i += 4
                var scalar = UInt32(unit)
                if unit >= 0xD800, unit < 0xDC00 {
                    // A high surrogate: use the low one that follows, if any.
                    if i + 1 < end, b[i] == JSONByte.backslash, b[i + 1] == UInt8(ascii: "u"),
                       let low = hex4(b, i + 2, end), low >= 0xDC00, low < 0xE000 {
                        scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                        i += 6
                    } else {
                        scalar = 0xFFFD
                    }
                } else if unit >= 0xDC00, unit < 0xE000 {
                    scalar = 0xFFFD
                }
                appendUTF8(scalar, to: &out)
            default:
                return nil
            }
        }
        return out
    }

    private static func hex4(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt16? {
        guard start + 4 <= end else { return nil }
        var value: UInt16 = 0
        for k in start..<(start + 4) {
            let c = b[k]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    private static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (scalar >> 6)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (scalar >> 12)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            out.append(UInt8(0xF0 | ((scalar >> 18) & 0x07)))
            out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }
}

/// The ASCII bytes JSON is structured with.
enum JSONByte {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
}
