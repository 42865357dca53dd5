import Synchronization

/// `/mcp`: AEX's governed tools for any MCP client, over MCP's streamable HTTP transport, with the
/// agent's token (`Authorization: Bearer`, checked by the gateway before this is reached).
///
/// - `POST`: one JSON-RPC message (or, in protocol version 2025-03-26, a batch). `initialize`
///   negotiates the version and opens a session (`Mcp-Session-Id` on its answer); every other
///   message needs that header (400 without it, 404 for a session unknown, expired or another
///   agent's). Requests are answered as `application/json`; notifications and responses get 202.
/// - `GET`: 405 (AEX sends nothing unasked, so there is no server-to-client stream).
/// - `DELETE`: ends the session.
/// - `tools/list`: the agent's allowed, enabled tools; `tools/call`: exactly the governed call of
///   `POST /v1/tools/execute` (policy, rate limit, reservation, commit or release, ledger events),
///   its answer re-shaped by `MCPToolAnswer`.
///
/// Invariants: bad input is a JSON-RPC error (or a 4xx) and never reaches the ledger except as
/// the denial `/v1/tools/execute` itself records; sessions live in memory, bounded (`MCPSessions`);
/// a request from a browser page of another origin is refused (403), as the transport requires.
final class MCPServer: Sendable {
    /// Newest first; the first is offered when the client asks for one AEX does not speak.
    static let protocolVersions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    /// Versions whose transport takes JSON-RPC batches.
    static let batchVersions: Set<String> = ["2025-03-26"]
    static let batchItemsMax = 32
    static let sessionHeader = "mcp-session-id"
    static let versionHeader = "mcp-protocol-version"

    private let proxy: ProxyAPI
    let sessions = MCPSessions()

    init(proxy: ProxyAPI) {
        self.proxy = proxy
    }

    func handle(_ request: HTTPRequest, agent: Agent, runID: String?, responder: HTTPResponder) {
        if let origin = request.headers["origin"], !Self.isLoopbackOrigin(origin) {
            return responder.respond(Self.failure(403, code: JSONRPC.invalidRequest, "requests from origin '\(origin)' are not accepted"))
        }
        switch request.method {
        case "POST": post(request, agent: agent, runID: runID, responder: responder)
        case "DELETE": delete(request, agent: agent, responder: responder)
        case "GET":
            // The transport allows a server without a stream of its own to refuse it.
            var refusal = Self.failure(405, code: JSONRPC.invalidRequest, "AEX sends no messages of its own: there is no stream to open")
            refusal.headers.append(("allow", "POST, DELETE"))
            responder.respond(refusal)
        default:
            var refusal = Self.failure(405, code: JSONRPC.invalidRequest, "use POST (or DELETE to end a session)")
            refusal.headers.append(("allow", "POST, DELETE"))
            responder.respond(refusal)
        }
    }

    // MARK: POST

    private func post(_ request: HTTPRequest, agent: Agent, runID: String?, responder: HTTPResponder) {
        guard let value = try? JSONReader.parse(request.body) else {
            return responder.respond(Self.failure(400, code: JSONRPC.parseError, "the body is not valid JSON"))
        }
        let now = WallClock.monotonicMillis()
        let message: JSONRPC.Message? = if case .array = value { nil } else { JSONRPC.classify(value) }
        if case .request(let id, "initialize", let params)? = message {
            return initialize(id: id, params: params, agent: agent, nowMillis: now, responder: responder)
        }
        let session: MCPSessions.Session
        switch currentSession(request, agent: agent, nowMillis: now) {
        case .success(let found): session = found
        case .failure(let refusal): return responder.respond(refusal.response)
        }
        guard let message else {
            guard case .array(let items) = value, Self.batchVersions.contains(session.protocolVersion) else {
                return responder.respond(Self.failure(400, code: JSONRPC.invalidRequest,
                                                      "batches are not part of MCP \(session.protocolVersion): send one message per request"))
            }
            guard !items.isEmpty, items.count <= Self.batchItemsMax else {
                return responder.respond(Self.failure(400, code: JSONRPC.invalidRequest,
                                                      "a batch holds 1 to \(Self.batchItemsMax) messages"))
            }
            return batch(items, agent: agent, runID: runID, responder: responder)
        }
        switch message {
        case .notification, .response:
            responder.respond(HTTPResponse(status: 202))
        case .invalid(let id, let reason):
            responder.respond(.json(400, JSONRPC.error(id: id, code: JSONRPC.invalidRequest, message: reason)))
        case .request(let id, let method, let params):
            answer(id: id, method: method, params: params, agent: agent, runID: runID, responder: responder) { message in
                responder.respond(.json(200, message))
            }
        }
    }

    /// Answers every request of a batch, then all of them in one array (202 when it had none).
    private func batch(_ items: [JSONValue], agent: Agent, runID: String?, responder: HTTPResponder) {
        let answers = BatchAnswers(count: items.count) { collected in
            let messages = collected.compactMap { $0 }
            responder.respond(messages.isEmpty ? HTTPResponse(status: 202) : .json(200, .array(messages)))
        }
        for (index, item) in items.enumerated() {
            switch JSONRPC.classify(item) {
            case .notification, .response:
                answers.set(index, nil)
            case .invalid(let id, let reason):
                answers.set(index, JSONRPC.error(id: id, code: JSONRPC.invalidRequest, message: reason))
            case .request(let id, "initialize", _):
                answers.set(index, JSONRPC.error(id: id, code: JSONRPC.invalidRequest, message: "initialize cannot be part of a batch"))
            case .request(let id, let method, let params):
                answer(id: id, method: method, params: params, agent: agent, runID: runID, responder: responder) { message in
                    answers.set(index, message)
                }
            }
        }
    }

    private func initialize(id: JSONValue, params: JSONValue?, agent: Agent, nowMillis: Int64, responder: HTTPResponder) {
        guard case .object(let fields)? = params, case .string(let asked)? = fields["protocolVersion"] else {
            return responder.respond(.json(200, JSONRPC.error(id: id, code: JSONRPC.invalidParams,
                                                             message: "initialize needs params.protocolVersion")))
        }
        let version = Self.protocolVersions.contains(asked) ? asked : Self.protocolVersions[0]
        let session = sessions.open(agentID: agent.id, protocolVersion: version, nowMillis: nowMillis)
        let result = JSONValue.object([
            "protocolVersion": .string(version),
            "capabilities": .object(["tools": .object(["listChanged": .bool(false)])]),
            "serverInfo": .object(["name": .string("aex"), "title": .string("AEX governed tools"), "version": .string(AEXVersion.current)]),
            "instructions": .string("Tools governed by AEX for agent '\(agent.name)': every call is checked against the agent's policy, "
                + "rate limits and budget, charged its price and recorded in the ledger."),
        ])
        responder.respond(.json(200, JSONRPC.result(id: id, result), headers: [(Self.sessionHeader, session.id)]))
    }

    /// The answer to one request of an open session, given to `done` (at once, or when a tool call settles).
    private func answer(id: JSONValue, method: String, params: JSONValue?, agent: Agent, runID: String?,
                        responder: HTTPResponder, done: @escaping @Sendable (JSONValue) -> Void) {
        switch method {
        case "ping":
            done(JSONRPC.result(id: id, .object([:])))
        case "tools/list":
            let tools = proxy.tools(for: agent).map { entry -> JSONValue in
                .object(["name": .string(entry.tool.name), "description": .string(entry.tool.description),
                         "inputSchema": entry.tool.parameters])
            }
            done(JSONRPC.result(id: id, .object(["tools": .array(tools)])))
        case "tools/call":
            guard case .object(let fields)? = params, case .string(let name)? = fields["name"], !name.isEmpty else {
                return done(JSONRPC.error(id: id, code: JSONRPC.invalidParams, message: "tools/call needs params.name, a tool's name"))
            }
            let arguments = fields["arguments"] ?? .object([:])
            guard case .object = arguments else {
                return done(JSONRPC.error(id: id, code: JSONRPC.invalidParams, message: "tools/call params.arguments must be an object"))
            }
            guard let governed = responder.delivering(to: { response in done(MCPToolAnswer.message(id: id, from: response)) }) else {
                return  // the client has gone: nothing is run for it
            }
            let body = Array(JSONValue.object(["tool_name": .string(name), "arguments": arguments]).canonicalText.utf8)
            proxy.executeTool(body: body, agent: agent, runID: runID, responder: governed)
        default:
            done(JSONRPC.error(id: id, code: JSONRPC.methodNotFound, message: "method '\(method)' is not served by AEX (it serves ping and tools)"))
        }
    }

    // MARK: Sessions

    private struct SessionRefusal: Error {
        let response: HTTPResponse
    }

    /// The session the request names, checked against the agent and the version it negotiated.
    private func currentSession(_ request: HTTPRequest, agent: Agent, nowMillis: Int64) -> Result<MCPSessions.Session, SessionRefusal> {
        guard let id = request.headers[Self.sessionHeader], !id.isEmpty else {
            return .failure(SessionRefusal(response: Self.failure(400, code: JSONRPC.invalidRequest,
                                                                  "the Mcp-Session-Id header is missing: call initialize first")))
        }
        guard let session = sessions.use(id: id, agentID: agent.id, nowMillis: nowMillis) else {
            return .failure(SessionRefusal(response: Self.failure(404, code: JSONRPC.invalidRequest,
                                                                  "session not found (ended or expired): initialize a new one")))
        }
        if let version = request.headers[Self.versionHeader], version != session.protocolVersion {
            return .failure(SessionRefusal(response: Self.failure(
                400, code: JSONRPC.invalidRequest,
                "MCP-Protocol-Version '\(version)' is not the version this session negotiated (\(session.protocolVersion))")))
        }
        return .success(session)
    }

    private func delete(_ request: HTTPRequest, agent: Agent, responder: HTTPResponder) {
        guard let id = request.headers[Self.sessionHeader], !id.isEmpty else {
            return responder.respond(Self.failure(400, code: JSONRPC.invalidRequest, "the Mcp-Session-Id header is missing"))
        }
        guard sessions.close(id: id, agentID: agent.id) else {
            return responder.respond(Self.failure(404, code: JSONRPC.invalidRequest, "session not found"))
        }
        responder.respond(HTTPResponse(status: 204))
    }

    // MARK: Helpers

    /// A transport-level refusal: `status` with a JSON-RPC error that answers no request in particular.
    static func failure(_ status: Int, code: Int64, _ message: String) -> HTTPResponse {
        .json(status, JSONRPC.error(id: .null, code: code, message: message))
    }

    /// `http(s)://localhost`, `127.0.0.1` or `[::1]`, any port: a page served from this machine.
    static func isLoopbackOrigin(_ origin: String) -> Bool {
        var rest = Substring(origin.lowercased())
        if rest.hasPrefix("http://") { rest = rest.dropFirst(7) } else if rest.hasPrefix("https://") { rest = rest.dropFirst(8) } else { return false }
        let host: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return false }
            host = rest[rest.startIndex...close]
            rest = rest[rest.index(after: close)...]
        } else {
            let end = rest.firstIndex(of: ":") ?? rest.endIndex
            host = rest[rest.startIndex..<end]
            rest = rest[end...]
        }
        guard host == "localhost" || host == "127.0.0.1" || host == "[::1]" else { return false }
        if rest.isEmpty { return true }
        guard rest.first == ":" else { return false }
        let port = rest.dropFirst()
        return !port.isEmpty && port.count <= 5 && port.allSatisfy(\.isASCII) && port.allSatisfy(\.isNumber)
    }
}

/// The answers of one batch, in order, given to `finished` once every item has one (nil: a
/// notification or response, which gets none).
private final class BatchAnswers: Sendable {
    private let state: Mutex<(answers: [JSONValue?], pending: Int)>
    private let finished: @Sendable ([JSONValue?]) -> Void

    init(count: Int, finished: @escaping @Sendable ([JSONValue?]) -> Void) {
        state = Mutex((Array(repeating: nil, count: count), count))
        self.finished = finished
    }

    func set(_ index: Int, _ answer: JSONValue?) {
        let complete = state.withLock { state -> [JSONValue?]? in
            state.answers[index] = answer
            state.pending -= 1
            return state.pending == 0 ? state.answers : nil
        }
        if let complete { finished(complete) }
    }
}
