/// One text for every spelling of the same JSON document: what two request bodies are compared by
/// when they carry the same `Idempotency-Key` (SPEC §8).
///
/// Object members sorted by their keys' UTF-8 bytes; no insignificant whitespace; strings by their
/// decoded text, escaped as `JSONValue` escapes them; numbers by their exact decimal value, so
/// `1`, `1.0`, `1e0` and `10E-1` are one number (`1`), and `-0` is `0`. No number is rounded:
/// `0.1` and `0.10000000000000001` stay different.
extension JSONTape {
    /// The canonical text of the whole document.
    func canonicalText() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        writeCanonical(Self.root, into: &out)
        return out
    }

    private func writeCanonical(_ node: Int, into out: inout [UInt8]) {
        let n = nodes[node]
        switch n.kind {
        case .null: out.append(contentsOf: "null".utf8)
        case .true: out.append(contentsOf: "true".utf8)
        case .false: out.append(contentsOf: "false".utf8)
        case .integer where bytes[n.end - 1] != UInt8(ascii: "0"):
            // No sign of zero, no trailing zeros to move into an exponent: already canonical.
            out.append(contentsOf: bytes[n.start..<n.end])
        case .integer, .number: out.append(contentsOf: CanonicalNumber.text(bytes[n.start..<n.end]))
        case .string, .key:
            guard n.escaped else {
                // Without an escape the text holds no quote, backslash or control byte: it is
                // already written the way `JSONValue.writeString` writes it.
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: bytes[n.start..<n.end])
                out.append(UInt8(ascii: "\""))
                return
            }
            JSONValue.writeString(string(node), into: &out)
        case .array:
            out.append(UInt8(ascii: "["))
            var first = true
            forEachItem(node) { item in
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeCanonical(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object:
            // Key nodes, sorted by their decoded text's bytes; keys are unique (the tape refuses
            // duplicates). Most keys hold no escape and are compared where they lie.
            var keys: [Int] = []
            keys.reserveCapacity(n.count)
            var at = node + 1
            for _ in 0..<n.count {
                keys.append(at)
                at = nodes[at + 1].next
            }
            if keys.count > 1 { keys.sort { keyText($0).lexicographicallyPrecedes(keyText($1)) } }
            out.append(UInt8(ascii: "{"))
            for (index, key) in keys.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeCanonical(key, into: &out)
                out.append(UInt8(ascii: ":"))
                writeCanonical(key + 1, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A key's decoded UTF-8 bytes (in place when it holds no escape).
    private func keyText(_ key: Int) -> ArraySlice<UInt8> {
        let n = nodes[key]
        return n.escaped ? ArraySlice(string(key).utf8) : bytes[n.start..<n.end]
    }
}

/// A JSON number's exact value as text: `-`, the significant digits without leading or trailing
/// zeros, and `e` with the power of ten when it is not zero (`1.50` → `15e-1`, `100` → `1e2`).
enum CanonicalNumber {
    /// Exponents with more digits than this are kept as spelled (no document needs them).
    static let exponentDigitsMax = 15

    static func text(_ number: ArraySlice<UInt8>) -> [UInt8] {
        var at = number.startIndex
        let negative = number[at] == UInt8(ascii: "-")
        if negative { at += 1 }
        var digits: [UInt8] = []
        var fractionDigits = 0
        var inFraction = false
        while at < number.endIndex {
            let byte = number[at]
            if byte == UInt8(ascii: ".") {
                inFraction = true
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                break
            } else {
                if !(digits.isEmpty && byte == UInt8(ascii: "0")) { digits.append(byte) }
                if inFraction { fractionDigits += 1 }
            }
            at += 1
        }
        var exponent = 0
        if at < number.endIndex {
            at += 1
            var exponentNegative = false
            if number[at] == UInt8(ascii: "+") || number[at] == UInt8(ascii: "-") {
                exponentNegative = number[at] == UInt8(ascii: "-")
                at += 1
            }
            let exponentDigits = number[at...].drop { $0 == UInt8(ascii: "0") }
            guard exponentDigits.count <= exponentDigitsMax else { return Array(number) }
            for digit in exponentDigits { exponent = exponent * 10 + Int(digit - UInt8(ascii: "0")) }
            if exponentNegative { exponent = -exponent }
        }
        guard !digits.isEmpty else { return [UInt8(ascii: "0")] }
        exponent -= fractionDigits
        while digits.last == UInt8(ascii: "0") {
            digits.removeLast()
            exponent += 1
        }
        var out: [UInt8] = negative ? [UInt8(ascii: "-")] : []
        out.append(contentsOf: digits)
        if exponent != 0 { out.append(contentsOf: "e\(exponent)".utf8) }
        return out
    }
}
