/// Writes one flat JSON object in the canonical form of `JSONValue` member by member, without a
/// dictionary or a sort: the caller names the members in canonical key order (checked in debug
/// builds). For the ledger's per-call payloads, written millions of times a day.
struct CanonicalJSONObject {
    private(set) var bytes: [UInt8]
    #if DEBUG
    private var previousKey: [UInt8] = []
    #endif

    init(capacity: Int = 192) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Keys are plain ASCII literals that need no escaping.
    private mutating func key(_ name: StaticString) {
        #if DEBUG
        let keyBytes = name.withUTF8Buffer { Array($0) }
        assert(keyBytes.allSatisfy { $0 >= 0x20 && $0 < 0x80 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        assert(previousKey.isEmpty || previousKey.lexicographicallyPrecedes(keyBytes), "keys out of canonical order")
        previousKey = keyBytes
        #endif
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func int(_ name: StaticString, _ value: Int64) {
        key(name)
        Self.appendDecimal(value, to: &bytes)
    }

    mutating func int(_ name: StaticString, _ value: Int64?) {
        key(name)
        if let value { Self.appendDecimal(value, to: &bytes) } else { bytes.append(contentsOf: "null".utf8) }
    }

    mutating func bool(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func string(_ name: StaticString, _ value: String?) {
        key(name)
        if let value { JSONValue.writeString(value, into: &bytes) } else { bytes.append(contentsOf: "null".utf8) }
    }

    /// The finished object's bytes.
    mutating func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// `String(value)`'s bytes without the intermediate string.
    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value == 0 { return out.append(UInt8(ascii: "0")) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            if value < 0 { out.append(UInt8(ascii: "-")) }
            out.append(contentsOf: buffer[(20 - count)...])
        }
    }
}
