/// Removes credentials from a provider's answer before it is relayed to an agent: the provider
/// key AEX sent (wherever it appears), its recognisable start (providers often quote a key as
/// `sk-abc…xyz`), and the value of anything shaped like an `Authorization: Bearer` credential.
/// Pure; the common answer, with nothing to redact, is returned as it came.
enum CredentialRedactor {
    static let replacement = Array("[redacted]".utf8)
    /// A key's first bytes that are redacted wherever they appear (with what follows them up to a
    /// delimiter), when the key is long enough for them to identify it.
    static let keyPrefixBytes = 8

    static func redact(_ body: [UInt8], key: String?) -> [UInt8] {
        var result = body
        if let key, !key.isEmpty {
            let keyBytes = Array(key.utf8)
            result = replacing(keyBytes, in: result, through: false)
            if keyBytes.count >= 2 * keyPrefixBytes {
                result = replacing(Array(keyBytes.prefix(keyPrefixBytes)), in: result, through: true)
            }
        }
        for marker in ["Bearer ", "bearer ", "BEARER "] {
            result = replacing(Array(marker.utf8), in: result, through: true, keepMarker: true)
        }
        assert(key.map { $0.isEmpty || !String(decoding: result, as: UTF8.self).contains($0) } ?? true, "a key survived redaction")
        return result
    }

    /// Replaces each occurrence of `needle` with `[redacted]`; with `through`, the bytes after it up
    /// to a delimiter (quote, whitespace, comma, backslash) go too; with `keepMarker`, the needle
    /// itself stays and only what follows it is replaced.
    private static func replacing(_ needle: [UInt8], in haystack: [UInt8], through: Bool, keepMarker: Bool = false) -> [UInt8] {
        guard !needle.isEmpty, haystack.count >= needle.count else { return haystack }
        var output: [UInt8] = []
        var at = 0
        var changed = false
        while at < haystack.count {
            if at + needle.count <= haystack.count, haystack[at] == needle[0], haystack[at..<(at + needle.count)].elementsEqual(needle) {
                var end = at + needle.count
                if through {
                    while end < haystack.count, !isDelimiter(haystack[end]) { end += 1 }
                }
                if keepMarker {
                    guard end > at + needle.count else {  // nothing follows the marker
                        output.append(contentsOf: needle)
                        at += needle.count
                        continue
                    }
                    output.append(contentsOf: needle)
                }
                output.append(contentsOf: replacement)
                at = end
                changed = true
            } else {
                output.append(haystack[at])
                at += 1
            }
        }
        return changed ? output : haystack
    }

    private static func isDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: " "), UInt8(ascii: ","), UInt8(ascii: "\\"), UInt8(ascii: "'"), 0x09, 0x0a, 0x0d: true
        default: false
        }
    }
}
