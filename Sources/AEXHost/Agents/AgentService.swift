/// Carries out agent commands through the store writer: validates, changes the `agents` row and
/// appends the matching ledger event in one transaction, then (after commit) updates the registry.
/// Used by the daemon's admin API and, when no daemon runs, directly by the CLI.
public final class AgentService: Sendable {
    public let registry: AgentRegistry
    private let writer: StoreWriter
    private let now: @Sendable () -> Int64

    public init(writer: StoreWriter, registry: AgentRegistry, now: @escaping @Sendable () -> Int64 = WallClock.nowMicros) {
        self.writer = writer
        self.registry = registry
        self.now = now
    }

    /// Loads the live agents from the database into a new registry (start-up; blocks).
    public static func loadRegistry(_ writer: StoreWriter) throws -> AgentRegistry {
        let agents = try writer.perform { db in try AgentTable.live(db) }
        return AgentRegistry(agents: agents)
    }

    public func execute(
        _ command: AgentCommand, completion: @escaping @Sendable (Result<AgentCommandResult, ManagementError>) -> Void
    ) {
        let now = self.now
        let registry = self.registry
        writer.submit({ db in try AgentService.apply(command, db, nowMicros: now()) }) { outcome in
            switch outcome {
            case .success(let result):
                registry.put(result.agent)
                completion(.success(result))
            case .failure(let error as ManagementError):
                completion(.failure(error))
            case .failure(let error as SQLiteError) where error.isConstraintViolation:
                completion(.failure(.alreadyExists(command.agentName)))
            case .failure(let error):
                completion(.failure(.storeFailed("\(error)")))
            }
        }
    }

    /// Runs a command and waits (CLI only; never on an event loop).
    public func executeAndWait(_ command: AgentCommand) -> Result<AgentCommandResult, ManagementError> {
        let done = DispatchSemaphoreBox<Result<AgentCommandResult, ManagementError>>()
        execute(command) { done.finish($0) }
        return done.wait()
    }

    static func apply(_ command: AgentCommand, _ db: SQLiteDatabase, nowMicros: Int64) throws -> AgentCommandResult {
        switch command {
        case .create(let name, let settings):
            try AgentName.validate(name)
            try settings.validate()
            if try AgentTable.live(named: name, db) != nil { throw ManagementError.alreadyExists(name) }
            guard let budget = settings.budget, let rpm = settings.rpm else {
                throw ManagementError.invalid("a new agent needs a budget and an rpm")
            }
            let token = Token.newAgentToken()
            let ttl = settings.ttlSeconds ?? nil
            var agent = Agent(
                id: 0, name: name, state: .active, budget: try AgentSettings.budget(budget, adding: settings.addBudget ?? .zero),
                spent: .zero, reserved: .zero, rpm: rpm, tpm: settings.tpm ?? nil, policy: .default,
                tokenSHA256: Token.digestHex(token), tokenPrefix: Token.displayPrefix(token),
                tokenExpiresAtMicros: try expiry(ttl, nowMicros: nowMicros), tokenTTLSeconds: ttl,
                createdAtMicros: nowMicros)
            agent.policy = settings.applied(to: .default)
            agent.id = try AgentTable.insert(agent, db, nowMicros: nowMicros)
            try EventLog.append(
                LedgerEvent(type: .agentCreated, agentID: agent.id, agentName: name, payload: settingsPayload(agent)),
                to: db, nowMicros: nowMicros)
            return AgentCommandResult(agent: agent, token: token)

        case .update(let name, let settings):
            try settings.validate()
            var agent = try existing(name, db)
            if let budget = settings.budget { agent.budget = budget }
            if let added = settings.addBudget { agent.budget = try AgentSettings.budget(agent.budget, adding: added) }
            let committed = try agent.spent.adding(agent.reserved)
            if agent.budget < committed {
                throw ManagementError.invalid(
                    "budget \(agent.budget) USD is below what is already spent and reserved (\(committed) USD)")
            }
            if let rpm = settings.rpm { agent.rpm = rpm }
            if let tpm = settings.tpm { agent.tpm = tpm }
            agent.policy = settings.applied(to: agent.policy)
            if let ttl = settings.ttlSeconds {
                agent.tokenTTLSeconds = ttl
                agent.tokenExpiresAtMicros = try expiry(ttl, nowMicros: nowMicros)
            }
            try AgentTable.update(agent, db, nowMicros: nowMicros)
            try EventLog.append(
                LedgerEvent(type: .agentUpdated, agentID: agent.id, agentName: name, payload: settingsPayload(agent)),
                to: db, nowMicros: nowMicros)
            return AgentCommandResult(agent: agent, token: nil)

        case .pause(let name), .resume(let name), .delete(let name):
            var agent = try existing(name, db)
            let (state, type): (AgentState, LedgerEventType) = switch command {
            case .pause: (.paused, .agentPaused)
            case .resume: (.active, .agentResumed)
            default: (.deleted, .agentDeleted)
            }
            guard agent.state != state else { return AgentCommandResult(agent: agent, token: nil) }
            agent.state = state
            try AgentTable.update(agent, db, nowMicros: nowMicros)
            try EventLog.append(
                LedgerEvent(type: type, agentID: agent.id, agentName: name, payload: .object([:])),
                to: db, nowMicros: nowMicros)
            return AgentCommandResult(agent: agent, token: nil)

        case .rotateToken(let name, let ttlSeconds):
            var agent = try existing(name, db)
            if let ttl = ttlSeconds ?? nil, ttl < 1 { throw ManagementError.invalid("ttl must be positive") }
            let token = Token.newAgentToken()
            if let ttl = ttlSeconds { agent.tokenTTLSeconds = ttl }
            agent.tokenSHA256 = Token.digestHex(token)
            agent.tokenPrefix = Token.displayPrefix(token)
            agent.tokenExpiresAtMicros = try expiry(agent.tokenTTLSeconds, nowMicros: nowMicros)
            try AgentTable.update(agent, db, nowMicros: nowMicros)
            try EventLog.append(
                LedgerEvent(
                    type: .tokenRotated, agentID: agent.id, agentName: name,
                    payload: .object([
                        "token_prefix": .string(agent.tokenPrefix),
                        "token_expires_at_micros": .optional(agent.tokenExpiresAtMicros),
                    ])),
                to: db, nowMicros: nowMicros)
            return AgentCommandResult(agent: agent, token: token)
        }
    }

    private static func existing(_ name: String, _ db: SQLiteDatabase) throws -> Agent {
        guard let agent = try AgentTable.live(named: name, db) else { throw ManagementError.notFound(name) }
        return agent
    }

    private static func expiry(_ ttlSeconds: Int64?, nowMicros: Int64) throws(ManagementError) -> Int64? {
        guard let ttlSeconds else { return nil }
        let (micros, o1) = ttlSeconds.multipliedReportingOverflow(by: 1_000_000)
        let (at, o2) = nowMicros.addingReportingOverflow(micros)
        if o1 || o2 { throw .invalid("ttl is too long") }
        return at
    }

    private static func settingsPayload(_ agent: Agent) -> JSONValue {
        .object([
            "budget_micro": .int(agent.budget.value), "rpm": .int(agent.rpm), "tpm": .optional(agent.tpm),
            "models": .optional(agent.policy.models), "tools": .optional(agent.policy.tools),
            "streaming": .bool(agent.policy.streaming), "vision": .bool(agent.policy.vision),
            "max_tokens": .optional(agent.policy.maxTokens), "passthrough": .bool(agent.policy.passthrough),
            "read_only": .bool(agent.policy.readOnly), "token_prefix": .string(agent.tokenPrefix),
            "token_ttl_seconds": .optional(agent.tokenTTLSeconds),
        ])
    }
}

extension AgentCommand {
    var agentName: String {
        switch self {
        case .create(let name, _), .update(let name, _), .pause(let name), .resume(let name), .delete(let name),
             .rotateToken(let name, _):
            return name
        }
    }
}

extension AgentSettings {
    func applied(to policy: AgentPolicy) -> AgentPolicy {
        var policy = policy
        if let models { policy.models = models }
        if let tools { policy.tools = tools }
        if let streaming { policy.streaming = streaming }
        if let vision { policy.vision = vision }
        if let maxTokens { policy.maxTokens = maxTokens }
        if let passthrough { policy.passthrough = passthrough }
        if let readOnly { policy.readOnly = readOnly }
        return policy
    }
}
