import Glibc

/// An upper bound of the output tokens one stream event carried, for a stream that ends without
/// the provider's usage (SPEC §7: the client left, the provider failed). Pure.
///
/// The text of an event is what its deltas hold: chat completions' `choices[].delta` (content,
/// refusal, tool-call arguments, reasoning) and the Responses API's top-level `delta`. A token is
/// at least one byte of text, and an event with a delta carries at least one token, so the bound
/// is the delta strings' UTF-8 bytes plus one. Envelope fields (ids, model, object) are not text.
/// Data that is not a JSON object counts in full. A key given twice counts every time (whichever
/// one a client reads, it is inside the bound).
///
/// Every event of every stream goes through here, so the common case — ASCII text with simple
/// escapes — is measured in one pass without building anything (`DeltaText`); the rest (`\u`
/// escapes, other UTF-8) goes through the full parser.
enum StreamedText {
    static func tokensBound(_ data: [UInt8]) -> Int64 {
        if let bound = data.withUnsafeBytes({ DeltaText.bound($0) }) { return bound }
        return parsedBound(data)
    }

    /// The same bound through `JSONTape` (strict RFC 8259 and UTF-8, duplicate keys refused).
    static func parsedBound(_ data: [UInt8]) -> Int64 {
        guard let tape = try? JSONTape.parse(data), tape.kind(JSONTape.root) == .object else { return Int64(data.count) }
        var bytes: Int64 = 0
        var deltas: Int64 = 0
        if let delta = tape.member(JSONTape.root, "delta") {
            bytes &+= tape.kind(delta) == .string ? Int64(tape.nodes[delta].count) : tape.stringValueBytes(delta)
            deltas = 1
        }
        if let choices = tape.member(JSONTape.root, "choices"), tape.kind(choices) == .array {
            tape.forEachItem(choices) { choice in
                guard tape.kind(choice) == .object, let delta = tape.member(choice, "delta") else { return }
                bytes &+= tape.stringValueBytes(delta)
                deltas &+= 1
            }
        }
        return bytes &+ deltas
    }
}

/// One pass over an event's JSON measuring its deltas' text, for data that is ASCII with only the
/// short escapes: nil for anything else (the caller parses it fully), and for data that is not
/// well-formed JSON.
struct DeltaText {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var textBytes: Int64 = 0
    private var deltas: Int64 = 0

    private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    static func bound(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var scanner = DeltaText(bytes)
        scanner.skipWhitespace()
        guard scanner.peek == UInt8(ascii: "{") else { return nil }
        guard scanner.object(depth: 0, role: .root) else { return nil }
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { return nil }
        return scanner.textBytes &+ scanner.deltas
    }

    /// What an object is to the bound: the event itself, a choice, or a part of neither.
    private enum Role { case root, choice, other }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    private static func equals(_ key: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        key.count == word.utf8CodeUnitCount && memcmp(key.baseAddress!, word.utf8Start, key.count) == 0
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0a, 0x0d, 0x09: index += 1
            default: return
            }
        }
    }

    /// A value; its strings count as text when `counting`.
    private mutating func value(depth: Int, counting: Bool) -> Bool {
        guard depth < JSONReader.depthMax, let byte = peek else { return false }
        switch byte {
        case UInt8(ascii: "{"): return object(depth: depth, role: .other, counting: counting)
        case UInt8(ascii: "["): return array(depth: depth, counting: counting, choices: false)
        case UInt8(ascii: "\""):
            guard let length = string() else { return false }
            if counting { textBytes &+= Int64(length) }
            return true
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    private mutating func object(depth: Int, role: Role, counting: Bool = false) -> Bool {
        guard depth < JSONReader.depthMax else { return false }
        index += 1  // {
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return true
        }
        while true {
            guard peek == UInt8(ascii: "\"") else { return false }
            let keyStart = index + 1
            guard string() != nil else { return false }
            let key = UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(index - 1)])
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { return false }
            index += 1
            skipWhitespace()
            if role != .other, Self.equals(key, "delta") {
                deltas &+= 1
                guard value(depth: depth + 1, counting: true) else { return false }
            } else if role == .root, Self.equals(key, "choices"), peek == UInt8(ascii: "[") {
                guard array(depth: depth + 1, counting: false, choices: true) else { return false }
            } else {
                guard value(depth: depth + 1, counting: counting) else { return false }
            }
            skipWhitespace()
            guard let next = peek else { return false }
            index += 1
            if next == UInt8(ascii: "}") { return true }
            guard next == UInt8(ascii: ",") else { return false }
            skipWhitespace()
        }
    }

    private mutating func array(depth: Int, counting: Bool, choices: Bool) -> Bool {
        guard depth < JSONReader.depthMax else { return false }
        index += 1  // [
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return true
        }
        while true {
            if choices, peek == UInt8(ascii: "{") {
                guard object(depth: depth + 1, role: .choice) else { return false }
            } else {
                guard value(depth: depth + 1, counting: counting) else { return false }
            }
            skipWhitespace()
            guard let next = peek else { return false }
            index += 1
            if next == UInt8(ascii: "]") { return true }
            guard next == UInt8(ascii: ",") else { return false }
            skipWhitespace()
        }
    }

    /// A string of printable ASCII and short escapes; its length once unescaped, index past it.
    private mutating func string() -> Int? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let first = index + 1  // after the opening quote
        var at = first
        var escapes = 0
        let end = bytes.count
        while at < end {
            // Eight bytes at a time: none below 0x20, from 0x80, a quote or a backslash. The lowest
            // flagged byte of a word is always a real one (a borrow only runs upward from a real
            // match), so the scan jumps straight to it.
            while at + 8 <= end {
                let word = UnsafeRawPointer(base + at).loadUnaligned(as: UInt64.self)
                let quotes = word ^ (Self.ones &* 0x22)
                let backslashes = word ^ (Self.ones &* 0x5c)
                let special = (((word &- Self.ones &* 0x20) & ~word)
                    | ((quotes &- Self.ones) & ~quotes) | ((backslashes &- Self.ones) & ~backslashes) | word) & Self.highs
                if special != 0 {
                    at += special.trailingZeroBitCount >> 3
                    break
                }
                at += 8
            }
            guard at < end else { break }
            let byte = base[at]
            if byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                at += 1
                continue
            }
            if byte == UInt8(ascii: "\"") {
                index = at + 1
                return at - first - escapes
            }
            guard byte == UInt8(ascii: "\\"), at + 1 < end else { return nil }  // control byte or UTF-8
            switch base[at + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                at += 2
                escapes += 1  // two bytes for one
            default: return nil  // \u, or not an escape
            }
        }
        return nil
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
        index += count
        return true
    }

    /// RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func number() -> Bool {
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, isDigit(first) else { return false }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek, isDigit(digit) else { return false }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek, isDigit(digit) else { return false }
            skipDigits()
        }
        return true
    }

    private mutating func skipDigits() {
        while let byte = peek, isDigit(byte) { index += 1 }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
