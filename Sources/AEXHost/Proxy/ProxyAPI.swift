import Synchronization

/// The governed OpenAI-compatible endpoints. On the loop thread: plan (pure policy), then rate
/// limit and budget in one atomic step, the reservation through the store writer, the provider
/// call (plugin + egress on this loop), and the settlement through the writer before answering.
///
/// Invariants: a refused request reaches no provider and changes no balance; every admitted call
/// ends in exactly one settlement (commit or release), whatever happens upstream; the client's
/// answer is sent only after its settlement committed.
final class ProxyAPI: Sendable {
    private let catalog: ModelCatalog
    private let plugins: ProviderPlugins
    private let registry: AgentRegistry
    private let writer: StoreWriter
    private let settings: ProxySettings
    private let egress: PerLoop<Egress>
    private let inFlight = Atomic<Int>(0)
    private let executionIDs: ExecutionIDs
    private let now: @Sendable () -> Int64
    private let settlementRetry: SettlementRetry
    private let logger: Logger?
    private let authRefusals = Mutex(AuthRefusalSampler())

    init(catalog: ModelCatalog, plugins: ProviderPlugins, registry: AgentRegistry, writer: StoreWriter,
         settings: ProxySettings, loopCount: Int, executionIDs: ExecutionIDs, logger: Logger? = nil,
         now: @escaping @Sendable () -> Int64 = WallClock.nowMicros) {
        self.executionIDs = executionIDs
        self.catalog = catalog
        self.plugins = plugins
        self.registry = registry
        self.writer = writer
        self.settings = settings
        egress = PerLoop(count: loopCount)
        self.now = now
        settlementRetry = SettlementRetry(writer: writer, logger: logger)
        self.logger = logger
    }

    // MARK: Routes

    func handle(route: String, _ request: HTTPRequest, agent: Agent, responder: HTTPResponder) {
        if route == "models" {
            guard request.method == "GET" else { return responder.respond(.error(405, code: "method_not_allowed", message: "use GET")) }
            return responder.respond(modelsList(for: agent))
        }
        guard let endpoint = Endpoint(rawValue: route) else {
            return responder.respond(.error(404, code: "not_found", message: "unknown endpoint \(request.method) \(request.path)"))
        }
        guard request.method == "POST" else { return responder.respond(.error(405, code: "method_not_allowed", message: "use POST")) }
        call(endpoint, request, agent: agent, responder: responder)
    }

    private func modelsList(for agent: Agent) -> HTTPResponse {
        let config = catalog.snapshot.config
        let aliases = config.models.keys.filter { agent.policy.models?.contains($0) ?? true }.sorted()
        return .json(200, .object([
            "object": .string("list"),
            "data": .array(aliases.map { .object(["id": .string($0), "object": .string("model"), "created": .int(0), "owned_by": .string("aex")]) }),
        ]))
    }

    // MARK: A governed call

    private func call(_ endpoint: Endpoint, _ request: HTTPRequest, agent: Agent, responder: HTTPResponder) {
        let executionID = executionIDs.make()
        let snapshot = catalog.snapshot
        var plan: CallPlan
        do {
            plan = try CallPolicy.plan(
                endpoint: endpoint, body: request.body, passthroughKey: request.headers[CallPolicy.passthroughHeader],
                agent: agent, catalog: snapshot)
        } catch {
            return refuse(error, executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        }
        guard let plugin = plugins.byType[plan.provider.type] else {
            return refuse(CallRefusal(503, "provider_not_configured", "no plugin serves provider type '\(plan.provider.type)'"),
                          executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        }
        if plan.request.stream, plugin.translateStreamEvent == nil {
            return refuse(CallRefusal(400, "unsupported_capability", "provider '\(plan.provider.name)' does not stream"),
                          executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        }
        guard inFlight.add(1, ordering: .relaxed).newValue <= settings.upstreamInFlightMax else {
            inFlight.subtract(1, ordering: .relaxed)
            return refuse(CallRefusal(503, "overloaded", "too many calls in flight; retry shortly"),
                          executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        }

        // Rate limit and budget, atomically; when the request named no output limit and the full
        // one is not affordable, the largest affordable limit is tried once.
        var amount: MicroUSD
        var admission: AgentRegistry.Admission
        let admittedAtMillis = WallClock.monotonicMillis()
        do {
            amount = try plan.model.pricing.cost(promptTokens: plan.request.promptTokensBound, completionTokens: plan.completionTokensBound)
            admission = admit(plan, agent, amount, nowMillis: admittedAtMillis)
            if case .budgetExceeded(let remaining) = admission, plan.addsOutputLimit,
               let affordable = affordableCompletionTokens(plan, remaining: remaining), affordable >= plan.request.choices {
                plan.outputTokensPerChoice = affordable / plan.request.choices
                amount = try plan.model.pricing.cost(promptTokens: plan.request.promptTokensBound, completionTokens: plan.completionTokensBound)
                admission = admit(plan, agent, amount, nowMillis: admittedAtMillis)
            }
        } catch {
            inFlight.subtract(1, ordering: .relaxed)
            return refuse(CallRefusal(400, "invalid_request", "the request's cost bound is too large"),
                          executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        }
        switch admission {
        case .admitted: break
        case .rateLimited(let seconds):
            inFlight.subtract(1, ordering: .relaxed)
            return refuse(CallRefusal(429, "rate_limit_exceeded", "rate limit reached; retry in \(seconds) s", retryAfterSeconds: seconds),
                          executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        case .budgetExceeded(let remaining):
            inFlight.subtract(1, ordering: .relaxed)
            return refuse(CallRefusal(402, "budget_exceeded",
                                      "this call may cost up to \(amount) USD; the agent has \(max(remaining, .zero)) USD left"),
                          executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        case .gone:
            inFlight.subtract(1, ordering: .relaxed)
            return responder.respond(AuthFailure.invalid.response)
        }

        let reservation = ExecutionLedger.Reservation(
            executionID: executionID, agentID: agent.id, agentName: agent.name, endpoint: endpoint.rawValue, model: plan.alias,
            amount: amount, promptTokensBound: plan.request.promptTokensBound, completionTokensBound: plan.completionTokensBound)
        let now = self.now
        let governed = GovernedCall(plan: plan, plugin: plugin, body: request.body, reservation: reservation, responder: responder,
                                    admittedAtMillis: admittedAtMillis)
        let payload = ExecutionLedger.reservationPayload(reservation)
        writer.submit({ db in try ExecutionLedger.reserve(governed.reservation, payload: payload, db, nowMicros: now()) },
                      on: responder.loop) { [self] result in
            switch result {
            case .success:
                dispatch(governed)
            case .failure:
                // Nothing went out: the admission is undone, money and rate limit alike.
                let reservation = governed.reservation
                registry.withdraw(agentID: reservation.agentID, name: reservation.agentName, reserved: reservation.amount,
                                  tokens: governed.plan.admittedTokens, admittedAtMillis: admittedAtMillis)
                inFlight.subtract(1, ordering: .relaxed)
                governed.responder.respond(.error(500, code: "ledger_unavailable", message: "the ledger could not record the reservation"))
            }
        }
    }

    private func admit(_ plan: CallPlan, _ agent: Agent, _ amount: MicroUSD, nowMillis: Int64) -> AgentRegistry.Admission {
        registry.admit(agentID: agent.id, name: agent.name, amount: amount, tokens: plan.admittedTokens, nowMillis: nowMillis)
    }

    /// The most output tokens `remaining` pays for after the prompt bound; nil when not even that.
    private func affordableCompletionTokens(_ plan: CallPlan, remaining: MicroUSD) -> Int64? {
        guard let promptCost = try? plan.model.pricing.cost(promptTokens: plan.request.promptTokensBound, completionTokens: 0),
              remaining.value > promptCost.value else { return nil }
        let perMillion = plan.model.pricing.outputMicroPerMillionTokens
        guard perMillion > 0 else { return plan.completionTokensBound }
        let (high, low) = (remaining.value - promptCost.value).multipliedFullWidth(by: 1_000_000)
        let (tokens, _) = perMillion.dividingFullWidth((high: high, low: low))
        return min(tokens, plan.completionTokensBound)
    }

    /// Loop thread: the reservation is durable; call the provider (or take the plugin's local answer).
    private func dispatch(_ call: GovernedCall) {
        let plan = call.plan
        let built: ProviderOutput
        do {
            built = try PluginCall.buildRequest(call.plugin, plan, body: call.body, maxOutputTokens: plan.addsOutputLimit ? plan.outputTokensPerChoice : 0)
        } catch {
            return settle(call, .released(reason: error.message, status: 502),
                          answer: .error(502, code: "provider_plugin_error", message: error.message))
        }
        if let status = built.localStatus {
            if plan.request.stream, (200..<300).contains(status) {
                // A local provider's stream: its events go through the same relay as a provider's.
                return StreamRelay(proxy: self, call: call, egress: nil).startLocal(built.body)
            }
            return finishAnswer(call, status: status, contentType: built.localContentType, body: built.body,
                                prompt: built.promptTokens, completion: built.completionTokens)
        }
        guard let path = built.path else {
            return settle(call, .released(reason: "plugin described no request", status: 502),
                          answer: .error(502, code: "provider_plugin_error", message: "the provider plugin described no request"))
        }
        var headers = built.headers.filter { $0.0.lowercased() != "authorization" }
        if let key = plan.apiKey { headers.append(("Authorization", "Bearer \(key)")) }
        let upstream = UpstreamRequest(
            method: built.method, url: plan.provider.baseURL + path, headers: headers, body: built.body,
            connectTimeoutMilliseconds: plan.provider.connectTimeoutSeconds * 1_000,
            totalTimeoutMilliseconds: plan.provider.timeoutSeconds * 1_000, responseBytesMax: settings.upstreamResponseBytesMax)
        let loop = call.responder.loop
        let loopEgress: Egress
        do {
            loopEgress = try egress.value(for: loop) {
                let created = try Egress(loop: loop)
                try created.activate()
                return created
            }
        } catch {
            return settle(call, .released(reason: "egress unavailable", status: 502),
                          answer: .error(502, code: "upstream_unavailable", message: "cannot reach providers: \(error)"))
        }
        if plan.request.stream {
            var streaming = upstream
            streaming.idleTimeoutSeconds = plan.provider.timeoutSeconds
            return StreamRelay(proxy: self, call: call, egress: loopEgress).start(streaming)
        }
        loopEgress.start(upstream) { [self] result in answered(call, result) }
    }

    /// Loop thread: the provider's answer (or its absence) to a non-streamed call.
    private func answered(_ call: GovernedCall, _ result: UpstreamResult) {
        let provider = call.plan.provider
        switch result {
        case .response(let status, let contentType, let upstreamBody) where (200..<300).contains(status):
            do {
                let translated = try PluginCall.translateResponse(call.plugin, call.plan, body: call.body, status: status, upstreamBody: upstreamBody)
                finishAnswer(call, status: status, contentType: contentType ?? "application/json", body: translated.body,
                             prompt: translated.promptTokens, completion: translated.completionTokens)
            } catch {
                // The provider answered and may bill: charge the reservation, marked estimated.
                settle(call, .committed(cost: call.reservation.amount, promptTokens: nil, completionTokens: nil, estimated: true, status: 502),
                       answer: .error(502, code: "provider_plugin_error", message: error.message))
            }
        case .response(let status, let contentType, let upstreamBody):
            settle(call, .released(reason: "provider answered \(status)", status: status),
                   answer: Self.relay(status: status, contentType: contentType, body: upstreamBody, redacting: call.plan.apiKey))
        case .unavailable(let detail):
            settle(call, .released(reason: "provider unreachable: \(detail)", status: 502),
                   answer: .error(502, code: "upstream_unavailable", message: "provider '\(provider.name)' is unreachable: \(detail)"))
        case .timedOut:
            settle(call, .released(reason: "provider timed out", status: 504),
                   answer: .error(504, code: "upstream_timeout", message: "provider '\(provider.name)' did not answer in \(provider.timeoutSeconds) s"))
        case .cancelled:
            settle(call, .released(reason: "cancelled", status: 499),
                   answer: .error(502, code: "upstream_unavailable", message: "the call was cancelled"))
        case .tooLarge:
            settle(call, .released(reason: "provider answer too large", status: 502),
                   answer: .error(502, code: "upstream_unavailable", message: "the provider's answer exceeded \(settings.upstreamResponseBytesMax) bytes"))
        }
    }

    /// A successful answer: cost from the reported usage (checked by `UsageCharge`), or the
    /// reserved bound when usage is missing.
    private func finishAnswer(_ call: GovernedCall, status: Int, contentType: String?, body: [UInt8], prompt: Int64?, completion: Int64?) {
        let charge = Self.charge(call, prompt: prompt, completion: completion ?? (call.plan.endpoint == .embeddings ? 0 : nil))
        let answer = HTTPResponse(status: status, headers: [("content-type", contentType ?? "application/json")], body: body)
        settle(call, .committed(cost: charge.cost, promptTokens: charge.promptTokens, completionTokens: charge.estimated ? completion : charge.completionTokens,
                                estimated: charge.estimated, status: status, fault: charge.fault),
               answer: answer)
    }

    /// The charge for `call` from the usage its provider reported (nil: not reported).
    static func charge(_ call: GovernedCall, prompt: Int64?, completion: Int64?) -> UsageCharge.Charge {
        UsageCharge.charge(pricing: call.plan.model.pricing, reserved: call.reservation.amount,
                           promptBound: call.plan.request.promptTokensBound, completionBound: call.plan.completionTokensBound,
                           prompt: prompt, completion: completion)
    }

    /// Settles in memory and in the ledger, then answers (with the money headers on success).
    private func settle(_ call: GovernedCall, _ outcome: ExecutionLedger.Outcome, answer: HTTPResponse) {
        commitSettlement(call, outcome) { remaining, cost, recorded in
            guard recorded else {
                return call.responder.respond(.error(500, code: "ledger_unavailable", message: "the ledger could not record the settlement"))
            }
            var headed = answer
            headed.headers.append(("x-aex-execution-id", call.reservation.executionID))
            if let cost {
                headed.headers.append(("x-aex-cost-micro", String(cost.value)))
                if let remaining { headed.headers.append(("x-aex-budget-remaining-micro", String(remaining.value))) }
            }
            call.responder.respond(headed)
        }
    }

    /// Ends a reservation: in memory at once (money, and the rate window's tokens corrected to what
    /// the call used), in the ledger through the writer; `then` runs on the call's loop after the
    /// commit with the remaining budget, the cost charged (nil for a release) and `recorded` (false
    /// when the ledger refused it — the settlement is then written again by `settlementRetry` until
    /// it lands, so the database catches up with memory).
    func commitSettlement(_ call: GovernedCall, _ outcome: ExecutionLedger.Outcome,
                          then: @escaping @Sendable (_ remaining: MicroUSD?, _ cost: MicroUSD?, _ recorded: Bool) -> Void) {
        let reservation = call.reservation
        var outcome = outcome
        var usedTokens: Int64?
        var charged: MicroUSD?
        switch outcome {
        case .committed(let cost, let prompt, let completion, let estimated, _, _, _):
            charged = cost
            if !estimated, let prompt, let completion { usedTokens = prompt &+ completion }
        case .released:
            usedTokens = 0
        }
        let settled = registry.settle(agentID: reservation.agentID, name: reservation.agentName, reserved: reservation.amount,
                                      cost: charged ?? .zero, admission: (call.admittedAtMillis, call.plan.admittedTokens), usedTokens: usedTokens)
        if let settled, let cost = charged, settled.cost != cost,
           case .committed(_, let prompt, let completion, let estimated, let status, let reason, let fault) = outcome {
            // Cut so that spent never passes Int64.max: the ledger records what memory applied.
            outcome = .committed(cost: settled.cost, promptTokens: prompt, completionTokens: completion, estimated: estimated, status: status,
                                 reason: reason, fault: fault)
            charged = settled.cost
        }
        if case .committed(_, _, _, _, _, _, let fault?) = outcome {
            logger?.warn("provider reported impossible usage", [
                "execution_id": .string(reservation.executionID), "provider": .string(call.plan.provider.name), "reason": .string(fault.reason),
            ])
        }
        inFlight.subtract(1, ordering: .relaxed)
        let remaining = settled?.remaining
        let cost = charged
        let loop = call.responder.loop
        let now = self.now
        let settledOutcome = outcome
        let payload = ExecutionLedger.settlementPayload(reservation, settledOutcome)
        let write: @Sendable (SQLiteDatabase) throws -> Void = { db in
            try ExecutionLedger.settle(reservation, settledOutcome, payload: payload, db, nowMicros: now())
        }
        writer.submit(write, on: loop) { [settlementRetry] result in
            if case .failure(let error) = result {
                settlementRetry.retry(executionID: reservation.executionID, after: error, write)
                then(remaining, cost, false)
            } else {
                then(remaining, cost, true)
            }
        }
    }

    private func refuse(_ refusal: CallRefusal, executionID: String, agent: Agent, endpoint: Endpoint, responder: HTTPResponder) {
        let now = self.now
        writer.submit({ db in
            try ExecutionLedger.deny(
                executionID: executionID, agentID: agent.id, agentName: agent.name, endpoint: endpoint.rawValue, status: refusal.status,
                code: refusal.code, reason: refusal.message, db, nowMicros: now())
        }) { _ in }
        responder.respond(refusal.response)
    }

    /// A refused credential on an agent route: counted, and recorded as a denial without an agent
    /// when the sampler says so (bounded rows per minute, bounded fields: see `AuthRefusalSampler`).
    func recordAuthenticationFailure(_ failure: AuthFailure, path: String) {
        guard let unrecordedBefore = authRefusals.withLock({ $0.refusal(nowMillis: WallClock.monotonicMillis()) }) else { return }
        let now = self.now
        let endpoint = AuthRefusalSampler.recordedEndpoint(path)
        writer.submit({ db in
            try ExecutionLedger.deny(executionID: "", agentID: nil, agentName: nil, endpoint: endpoint, status: 401, code: failure.code,
                                     reason: failure.message, unrecordedBefore: unrecordedBefore, db, nowMicros: now())
        }) { _ in }
    }

    /// A provider's error answer: relayed as is when OpenAI-shaped, wrapped otherwise. The
    /// provider key (and any bearer credential) is redacted from what is relayed.
    static func relay(status: Int, contentType: String?, body: [UInt8], redacting key: String?) -> HTTPResponse {
        if case .object(let object)? = try? JSONReader.parse(body), case .object? = object["error"] {
            return HTTPResponse(status: status, headers: [("content-type", "application/json")], body: CredentialRedactor.redact(body, key: key))
        }
        return .error(status, code: "upstream_error", message: "the provider answered \(status)")
    }
}
