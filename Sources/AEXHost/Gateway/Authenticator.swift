/// Decides who a request is. Pure apart from the registry read: the admin token's digest and the
/// clock are given. Admin tokens work only on admin routes and agent tokens only on agent routes.
public struct Authenticator: Sendable {
    private let adminTokenDigest: [UInt8]
    private let registry: AgentRegistry

    public init(adminToken: String, registry: AgentRegistry) {
        adminTokenDigest = SHA256.digest(Array(adminToken.utf8))
        self.registry = registry
    }

    /// The token from `Authorization: Bearer <token>`, or nil when absent or another scheme.
    /// Byte-wise: this runs on every request.
    public static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let bytes = header.utf8
        var index = bytes.startIndex
        while index != bytes.endIndex, bytes[index] == 0x20 || bytes[index] == 0x09 { index = bytes.index(after: index) }
        for expected in "bearer".utf8 {
            guard index != bytes.endIndex, bytes[index] | 0x20 == expected else { return nil }
            index = bytes.index(after: index)
        }
        guard index != bytes.endIndex, bytes[index] == 0x20 || bytes[index] == 0x09 else { return nil }
        let token = header[index...].trimmingSpaces
        return token.isEmpty ? nil : token
    }

    public func authenticateAdmin(authorization: String?) -> AuthFailure? {
        guard let token = Self.bearerToken(authorization) else { return .missing }
        guard Token.shape(token) == .admin,
              ConstantTime.equal(SHA256.digest(Array(token.utf8)), adminTokenDigest)
        else { return .invalid }
        return nil
    }

    /// The agent (and run, for a run's token) a request comes from.
    public func authenticateAgent(authorization: String?, nowMicros: Int64) -> Result<Caller, AuthFailure> {
        guard let token = Self.bearerToken(authorization) else { return .failure(.missing) }
        guard Token.shape(token) == .agent, let caller = registry.caller(holding: token) else {
            return .failure(.invalid)
        }
        if caller.isExpired(nowMicros: nowMicros) { return .failure(.expired) }
        return .success(caller)
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (byte-wise: this runs on every request).
    var trimmingSpaces: String {
        let bytes = utf8
        guard let first = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
              let last = bytes.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
