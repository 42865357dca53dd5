import CCrypto

/// SHA-256 through libcrypto, the only place that calls it.
public enum SHA256 {
    public static func digest(_ bytes: some Collection<UInt8>) -> [UInt8] {
        if let contiguous = bytes as? [UInt8] { return digest(contiguous) }
        return digest(Array(bytes))
    }

    /// The ledger hashes every entry: no generic code on this path.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        let length = Int(SHA256_DIGEST_LENGTH)
        return [UInt8](unsafeUninitializedCapacity: length) { out, initialized in
            let hashed = bytes.withUnsafeBufferPointer { aex_sha256($0.baseAddress, $0.count, out.baseAddress) }
            precondition(hashed == 1, "libcrypto could not compute SHA-256")
            initialized = length
        }
    }

    public static func hex(_ bytes: some Collection<UInt8>) -> String { Hex.encode(digest(bytes)) }

    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }
}

public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var at = 0
            for byte in bytes {
                out[at] = digits[Int(byte >> 4)]
                out[at + 1] = digits[Int(byte & 0x0f)]
                at += 2
            }
            return at
        }
    }

    /// Lower- or upper-case hex digits to bytes; nil for anything else or an odd length.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case 0x30...0x39: return digit - 0x30
            case 0x41...0x46: return digit - 0x41 + 10
            case 0x61...0x66: return digit - 0x61 + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
