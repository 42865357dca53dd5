/// Agent names: 1–64 characters of letters, digits, `.`, `_` and `-`, starting with a letter or digit.
public enum AgentName {
    public static let bytesMax = 64

    public static func validate(_ name: String) throws(ManagementError) {
        let bytes = Array(name.utf8)
        func allowed(_ byte: UInt8, first: Bool) -> Bool {
            let alphanumeric = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
            return alphanumeric || (!first && (byte == 0x2e || byte == 0x5f || byte == 0x2d))
        }
        guard !bytes.isEmpty, bytes.count <= bytesMax, allowed(bytes[0], first: true),
              bytes.dropFirst().allSatisfy({ allowed($0, first: false) })
        else {
            throw .invalid("agent name must be 1-\(bytesMax) letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
    }
}
