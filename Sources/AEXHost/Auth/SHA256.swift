import CCrypto

/// SHA-256 through libcrypto, the only place that calls it.
public enum SHA256 {
    public static func digest(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let input = Array(bytes)
        input.withUnsafeBufferPointer { buffer in
            _ = CCrypto.SHA256(buffer.baseAddress, buffer.count, &out)
        }
        return out
    }

    public static func hex(_ bytes: some Collection<UInt8>) -> String { Hex.encode(digest(bytes)) }

    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }
}

public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
