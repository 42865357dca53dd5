/// Bearer tokens. An agent token is `aex_` + 43 base62 characters (about 256 bits); the admin token
/// is `aexadmin_` + 43 base62 characters. Only SHA-256 digests of agent tokens are stored; the
/// first `prefixLength` characters are kept in clear to find the candidate and to show in `inspect`.
public enum Token {
    public static let agentPrefix = "aex_"
    public static let adminPrefix = "aexadmin_"
    public static let randomLength = 43
    public static let prefixLength = 12

    public static func newAgentToken() -> String { agentPrefix + SecureRandom.base62(randomLength) }
    public static func newAdminToken() -> String { adminPrefix + SecureRandom.base62(randomLength) }

    public static func digestHex(_ token: String) -> String { SHA256.hex(token) }

    /// The part of a token that is safe to store and show: `aex_AbCdEfGh`.
    public static func displayPrefix(_ token: String) -> String { String(token.prefix(prefixLength)) }

    public enum Shape: Equatable, Sendable { case agent, admin, malformed }

    /// Classifies a presented token by its form alone (it says nothing about validity).
    public static func shape(_ token: String) -> Shape {
        if token.hasPrefix(adminPrefix) {
            return isBase62(token.utf8.dropFirst(adminPrefix.utf8.count)) ? .admin : .malformed
        }
        if token.hasPrefix(agentPrefix) {
            return isBase62(token.utf8.dropFirst(agentPrefix.utf8.count)) ? .agent : .malformed
        }
        return .malformed
    }

    private static func isBase62(_ tail: Substring.UTF8View) -> Bool {
        tail.count >= 40 && tail.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
        }
    }
}
