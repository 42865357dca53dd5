import Foundation

/// Where agent commands from the CLI go: to the running daemon over its admin API, or, when no
/// daemon runs, straight to the database under the writer lock. The lock decides: whoever holds
/// it is the one writer, so the CLI never writes beside a running daemon.
public protocol AgentManager {
    func execute(_ command: AgentCommand) throws(CommandFailure) -> AgentView
    func list() throws(CommandFailure) -> [AgentView]
    func inspect(_ name: String) throws(CommandFailure) -> AgentView
}

public enum AgentManagers {
    public static let lockWaitMilliseconds = WriterAccess.lockWaitMilliseconds

    /// Takes the writer lock (local mode) or finds the daemon that holds it.
    public static func open(_ home: AEXHome) throws(CommandFailure) -> any AgentManager {
        switch try WriterAccess.open(home) {
        case .local(let lock): return try LocalAgentManager(home: home, lock: lock)
        case .daemon(let client): return DaemonAgentManager(client: client)
        }
    }
}

/// No daemon: this process is the writer for the duration of the command.
final class LocalAgentManager: AgentManager {
    private let lock: WriterLock
    private let writer: StoreWriter
    private let service: AgentService

    init(home: AEXHome, lock: WriterLock) throws(CommandFailure) {
        self.lock = lock
        do {
            writer = try StoreWriter(path: home.databasePath)
            service = AgentService(writer: writer, registry: try AgentService.loadRegistry(writer))
        } catch {
            lock.release()
            throw CommandFailure("cannot open \(home.databasePath): \(error)")
        }
    }

    deinit {
        writer.stop()
        lock.release()
    }

    func execute(_ command: AgentCommand) throws(CommandFailure) -> AgentView {
        switch service.executeAndWait(command) {
        case .success(let result):
            try stopRuns(after: command, agentID: result.agent.id)
            return AgentView(result.agent, token: result.token)
        case .failure(let error):
            throw CommandFailure(error.description)
        }
    }

    /// Pausing or deleting an agent terminates its supervised runs (SPEC §12), here as the daemon would.
    private func stopRuns(after command: AgentCommand, agentID: Int64) throws(CommandFailure) {
        let reason: RunStopReason
        switch command {
        case .pause: reason = .agentPaused
        case .delete: reason = .agentDeleted
        default: return
        }
        do {
            let grace = try Settings.from(environment: ProcessInfo.processInfo.environment).runKillGraceSeconds
            _ = try LocalRuns.terminate(.agentID(agentID), reason: reason, writer: writer, graceSeconds: grace)
        } catch {
            throw CommandFailure("the agent's supervised processes were not all terminated: \(error)")
        }
    }

    func list() throws(CommandFailure) -> [AgentView] { service.registry.all().map { AgentView($0) } }

    func inspect(_ name: String) throws(CommandFailure) -> AgentView {
        guard let agent = service.registry.agent(named: name) else { throw CommandFailure(ManagementError.notFound(name).description) }
        return AgentView(agent)
    }
}

/// A daemon runs: ask it over the admin API with the admin token.
final class DaemonAgentManager: AgentManager {
    private let client: AdminClient

    init(client: AdminClient) { self.client = client }

    func execute(_ command: AgentCommand) throws(CommandFailure) -> AgentView {
        let (method, path, body): (String, String, JSONValue?) = switch command {
        case .create(let name, let settings):
            ("POST", "/admin/agents", Self.merging(settings.json, ["name": .string(name)]))
        case .update(let name, let settings): ("PATCH", "/admin/agents/\(name)", settings.json)
        case .pause(let name): ("POST", "/admin/agents/\(name)/pause", nil)
        case .resume(let name): ("POST", "/admin/agents/\(name)/resume", nil)
        case .delete(let name): ("DELETE", "/admin/agents/\(name)", nil)
        case .rotateToken(let name, let ttl):
            ("POST", "/admin/agents/\(name)/rotate-token", ttl.map { .object(["ttl_seconds": .optional($0)]) })
        }
        return try decode(request(method, path, body), AgentView.decode)
    }

    func list() throws(CommandFailure) -> [AgentView] {
        try decode(request("GET", "/admin/agents", nil), AgentView.decodeList)
    }

    func inspect(_ name: String) throws(CommandFailure) -> AgentView {
        try decode(request("GET", "/admin/agents/\(name)", nil), AgentView.decode)
    }

    private func request(_ method: String, _ path: String, _ body: JSONValue?) throws(CommandFailure) -> [UInt8] {
        try client.request(method, path, body)
    }

    private func decode<T>(_ body: [UInt8], _ decoder: ([UInt8]) throws -> T) throws(CommandFailure) -> T {
        do {
            return try decoder(body)
        } catch {
            throw CommandFailure("the daemon sent an unreadable answer: \(error)")
        }
    }

    private static func merging(_ value: JSONValue, _ extra: [String: JSONValue]) -> JSONValue {
        guard case .object(var object) = value else { return value }
        for (key, item) in extra { object[key] = item }
        return .object(object)
    }
}
