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
