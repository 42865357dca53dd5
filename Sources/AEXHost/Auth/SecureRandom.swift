import CCrypto

/// Random bytes and base62 text from libcrypto's CSPRNG.
public enum SecureRandom {
    private static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "the system random generator failed")
        return out
    }

    /// `count` base62 characters, uniformly distributed (rejection sampling: bytes ≥ 248 are dropped).
    public static func base62(_ count: Int) -> String {
        var out = [UInt8]()
        out.reserveCapacity(count)
        while out.count < count {
            for byte in bytes(count) where byte < 248 && out.count < count {
                out.append(base62[Int(byte % 62)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
