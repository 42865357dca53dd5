/// The router of request handling (`DaemonRunner` builds it and everything it calls): sends each
/// request to health, the admin API or the agent API after authenticating it for that scope.
/// Runs on the loop thread; never blocks.
public final class Gateway: HTTPHandler {
    private let authenticator: Authenticator
    private let admin: AdminAPI
    private let proxy: ProxyAPI?
    /// `/mcp`: the governed tools over MCP (built on `proxy`).
    private let mcp: MCPServer?
    private let configuration: ConfigurationAPI?
    private let ledger: LedgerAPI?
    private let plugins: PluginAPI?
    private let runs: RunsAPI?
    private let metrics: MetricsAPI?
    private let status: StatusAPI?
    private let activity: ActivityAPI?
    private let healthResponse: HTTPResponse
    private let now: @Sendable () -> Int64

    init(adminToken: String, agents: AgentService, proxy: ProxyAPI? = nil, configuration: ConfigurationAPI? = nil,
         ledger: LedgerAPI? = nil, plugins: PluginAPI? = nil, runs: RunSupervisor? = nil, metrics: MetricsAPI.Sources? = nil,
         now: @escaping @Sendable () -> Int64 = WallClock.nowMicros) {
        self.metrics = metrics.map(MetricsAPI.init)
        status = metrics.map(StatusAPI.init)
        activity = metrics.map { ActivityAPI(databasePath: $0.databasePath) }
        self.plugins = plugins
        authenticator = Authenticator(adminToken: adminToken, registry: agents.registry)
        admin = AdminAPI(agents: agents, runs: runs)
        self.runs = runs.map { RunsAPI(runs: $0, registry: agents.registry) }
        self.proxy = proxy
        mcp = proxy.map(MCPServer.init)
        self.configuration = configuration
        self.ledger = ledger
        healthResponse = .json(200, .object(["status": .string("ok"), "version": .string(AEXVersion.current)]))
        self.now = now
    }

    /// A request whose body is still arriving is refused from its head when its credential fails,
    /// before the body is read (the same 401 as `handle` gives, recorded the same way); the
    /// connection then closes. Whole requests are authenticated by `handle` only.
    public func screen(head request: HTTPRequest) -> HTTPResponse? {
        let path = request.path
        if Self.isAdminPath(path) {
            return authenticator.authenticateAdmin(authorization: request.headers["authorization"])?.response
        }
        if Self.isAgentPath(path),
           case .failure(let failure) = authenticator.authenticateAgent(authorization: request.headers["authorization"], nowMicros: now()) {
            proxy?.recordAuthenticationFailure(failure, path: path)
            return failure.response
        }
        return nil
    }

    /// Admin routes: `/admin/…` and `/metrics` (SPEC §4).
    /// The daemon is stopping: ends the live feeds, which would otherwise hold up the drain.
    public func closeStreams() { activity?.feed.closeAll() }

    static func isAdminPath(_ path: String) -> Bool { path == "/admin" || path.hasPrefix("/admin/") || path == "/metrics" }
    static func isAgentPath(_ path: String) -> Bool { path.hasPrefix("/v1/") || path.hasPrefix("/openai/v1/") || path == mcpPath }
    /// MCP's endpoint (streamable HTTP transport), with an agent's token like `/v1/`.
    static let mcpPath = "/mcp"

    public func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        let path = request.path
        if path == "/health" {
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed(request, responder) }
            return responder.respond(healthResponse)
        }
        if path == "/dashboard" {
            // The page itself needs no token: it asks for the admin token for its data calls.
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed(request, responder) }
            return responder.respond(DashboardPage.response)
        }
        if Self.isAdminPath(path) {
            if let failure = authenticator.authenticateAdmin(authorization: request.headers["authorization"]) {
                return responder.respond(failure.response)
            }
            if path.hasPrefix("/admin/agents") && (path.count == 13 || path.dropFirst(13).first == "/") {
                return admin.handle(request, responder: responder)
            }
            if let configuration, path == "/admin/reload_config" || path == "/admin/models" {
                return configuration.handle(request, responder: responder)
            }
            if let plugins, path == "/admin/plugins" || path.hasPrefix("/admin/plugins/") {
                return plugins.handle(request, responder: responder)
            }
            if let runs, path == "/admin/runs" || path.hasPrefix("/admin/runs/") {
                return runs.handle(request, responder: responder)
            }
            if let metrics, path == "/metrics" { return metrics.handle(request, responder: responder) }
            if let status, path == "/admin/status" { return status.handle(request, responder: responder) }
            if let activity, path == "/admin/activity" { return activity.handle(request, responder: responder) }
            if let ledger, path == "/admin/replay" {
                return ledger.handle(request, responder: responder)
            }
            return notFound(request, responder)
        }
        if Self.isAgentPath(path) {
            switch authenticator.authenticateAgent(authorization: request.headers["authorization"], nowMicros: now()) {
            case .failure(let failure):
                proxy?.recordAuthenticationFailure(failure, path: path)
                return responder.respond(failure.response)
            case .success(let caller):
                if path == Self.mcpPath {
                    guard let mcp else { return notFound(request, responder) }
                    return mcp.handle(request, agent: caller.agent, runID: caller.runID, responder: responder)
                }
                guard let proxy else { return notFound(request, responder) }
                let route = String(path.dropFirst(path.hasPrefix("/v1/") ? 4 : 11))
                return proxy.handle(route: route, request, agent: caller.agent, runID: caller.runID, responder: responder)
            }
        }
        notFound(request, responder)
    }

    private func notFound(_ request: HTTPRequest, _ responder: HTTPResponder) {
        responder.respond(.error(404, code: "not_found", message: "unknown endpoint \(request.method) \(request.path)"))
    }

    private func methodNotAllowed(_ request: HTTPRequest, _ responder: HTTPResponder) {
        responder.respond(.error(405, code: "method_not_allowed", message: "\(request.method) is not allowed on \(request.path)"))
    }
}
