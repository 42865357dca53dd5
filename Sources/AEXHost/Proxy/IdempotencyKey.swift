/// The `Idempotency-Key` request header (SPEC §8): 1 to 255 printable ASCII characters
/// (space to `~`), given once.
enum IdempotencyKey {
    static let header = "idempotency-key"
    static let bytesMax = 255

    /// The key, or nil when `values` (every `Idempotency-Key` field of the request) is not exactly
    /// one well-formed key.
    static func validated(_ values: [String]) -> String? {
        guard values.count == 1, let key = values.first else { return nil }
        let utf8 = key.utf8
        guard (1...bytesMax).contains(utf8.count), utf8.allSatisfy({ (0x20...0x7e).contains($0) }) else { return nil }
        return key
    }

    static let refusal = CallRefusal(400, "invalid_request", "Idempotency-Key must be given once, as 1 to \(bytesMax) printable ASCII characters")
}
