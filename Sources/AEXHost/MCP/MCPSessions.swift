import Synchronization

/// The MCP sessions (`Mcp-Session-Id`) of authenticated agents, in memory: a session belongs to
/// the agent that opened it and records the protocol version negotiated at `initialize`.
///
/// Invariants: at most `perAgentMax` sessions per agent and `totalMax` in all (opening one more
/// drops the least recently used); a session idle for `idleSeconds` is gone; an id is 32 base62
/// characters from the CSPRNG, so it cannot be guessed. Nothing here reaches the database.
final class MCPSessions: Sendable {
    static let perAgentMax = 64
    static let totalMax = 4_096
    static let idleSeconds: Int64 = 3_600
    static let idCharacters = 32

    struct Session: Sendable, Equatable {
        let id: String
        let agentID: Int64
        let protocolVersion: String
        var lastUsedMillis: Int64
    }

    private let sessions = Mutex<[String: Session]>([:])

    /// A new session for `agentID` at `protocolVersion`; drops the least recently used ones past the bounds.
    func open(agentID: Int64, protocolVersion: String, nowMillis: Int64) -> Session {
        let session = Session(id: SecureRandom.base62(Self.idCharacters), agentID: agentID, protocolVersion: protocolVersion,
                              lastUsedMillis: nowMillis)
        sessions.withLock { table in
            Self.expire(&table, nowMillis: nowMillis)
            let own = table.values.filter { $0.agentID == agentID }
            if own.count >= Self.perAgentMax, let oldest = own.min(by: { $0.lastUsedMillis < $1.lastUsedMillis }) {
                table[oldest.id] = nil
            }
            if table.count >= Self.totalMax, let oldest = table.values.min(by: { $0.lastUsedMillis < $1.lastUsedMillis }) {
                table[oldest.id] = nil
            }
            table[session.id] = session
        }
        return session
    }

    /// The live session `id` of `agentID`, marked used now; nil when unknown, expired, or another agent's.
    func use(id: String, agentID: Int64, nowMillis: Int64) -> Session? {
        sessions.withLock { table in
            guard var session = table[id] else { return nil }
            guard nowMillis - session.lastUsedMillis < Self.idleSeconds * 1_000 else {
                table[id] = nil
                return nil
            }
            guard session.agentID == agentID else { return nil }
            session.lastUsedMillis = nowMillis
            table[id] = session
            return session
        }
    }

    /// Ends session `id` of `agentID` (`DELETE /mcp`); false when there was none.
    func close(id: String, agentID: Int64) -> Bool {
        sessions.withLock { table in
            guard table[id]?.agentID == agentID else { return false }
            table[id] = nil
            return true
        }
    }

    var count: Int { sessions.withLock { $0.count } }

    private static func expire(_ table: inout [String: Session], nowMillis: Int64) {
        let cutoff = nowMillis - idleSeconds * 1_000
        table = table.filter { $0.value.lastUsedMillis > cutoff }
    }
}
