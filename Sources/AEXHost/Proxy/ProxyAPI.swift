import Synchronization

/// The governed OpenAI-compatible endpoints. On the loop thread: plan (pure policy), then rate
/// limit and budget in one atomic step, the reservation through the store writer, the provider
/// call (plugin + egress on this loop), and the settlement through the writer before answering.
///
/// A request with an `Idempotency-Key` (SPEC §8) first joins `IdempotencyClaims`: a duplicate of a
/// running call waits for it; the holder of the scope looks for a stored answer and replays it —
/// before admission, so a replay takes no slot, no reservation, no rate capacity and no provider
/// call — or runs the call, whose successful answer is stored with its commit.
///
/// Invariants: a refused request reaches no provider and changes no balance; every admitted call
/// ends in exactly one settlement (commit or release), whatever happens upstream; the client's
/// answer is sent only after its settlement committed.
final class ProxyAPI: Sendable {
    private let catalog: ModelCatalog
    private let plugins: ProviderPlugins
    private let registry: AgentRegistry
    private let ledger: CallLedger
    private let answers: IdempotentAnswerStore
    private let claims = IdempotencyClaims()
    private let tools: ToolCatalog
    private let toolRunner: ToolRunner
    private let settings: ProxySettings
    private let egress: PerLoop<Egress>
    private let inFlight = Atomic<Int>(0)
    private let executionIDs: ExecutionIDs
    private let logger: Logger?
    private let authRefusals = Mutex(AuthRefusalSampler())
    /// Counts for `GET /metrics` (one shard per loop).
    let metrics: CallMetrics
    /// Told when a budget can no longer pay for its calls (run supervision's `--kill-on-exhaust`).
    private let budgetExhausted: @Sendable (BudgetExhaustion) -> Void

    init(catalog: ModelCatalog, plugins: ProviderPlugins, registry: AgentRegistry, ledger: CallLedger, answers: IdempotentAnswerStore,
         tools: ToolCatalog, toolRunner: ToolRunner, settings: ProxySettings, loopCount: Int, executionIDs: ExecutionIDs, logger: Logger? = nil,
         budgetExhausted: @escaping @Sendable (BudgetExhaustion) -> Void = { _ in }) {
        self.budgetExhausted = budgetExhausted
        metrics = CallMetrics(shardCount: loopCount)
        self.answers = answers
        self.tools = tools
        self.toolRunner = toolRunner
        self.executionIDs = executionIDs
        self.catalog = catalog
        self.plugins = plugins
        self.registry = registry
        self.ledger = ledger
        self.settings = settings
        egress = PerLoop(count: loopCount)
        self.logger = logger
    }

    // MARK: Routes

    /// `runID`: the request came with a run's token (SPEC §12); its calls count against the run's cap too.
    func handle(route: String, _ request: HTTPRequest, agent: Agent, runID: String? = nil, responder: HTTPResponder) {
        if route == "models" {
            guard request.method == "GET" else { return responder.respond(.error(405, code: "method_not_allowed", message: "use GET")) }
            return responder.respond(modelsList(for: agent))
        }
        if route == "tools" {
            guard request.method == "GET" else { return responder.respond(.error(405, code: "method_not_allowed", message: "use GET")) }
            return responder.respond(toolsList(for: agent))
        }
        if route == ToolCallPolicy.endpoint {
            guard request.method == "POST" else { return responder.respond(.error(405, code: "method_not_allowed", message: "use POST")) }
            return executeTool(body: request.body, agent: agent, runID: runID, responder: responder)
        }
        guard let endpoint = Endpoint(rawValue: route) else {
            return responder.respond(.error(404, code: "not_found", message: "unknown endpoint \(request.method) \(request.path)"))
        }
        guard request.method == "POST" else { return responder.respond(.error(405, code: "method_not_allowed", message: "use POST")) }
        guard request.headers[IdempotencyKey.header] == nil else {
            return callOnce(endpoint, request, agent: agent, runID: runID, responder: responder)
        }
        call(endpoint, request, agent: agent, runID: runID, responder: responder, claim: nil)
    }

    private func modelsList(for agent: Agent) -> HTTPResponse {
        let config = catalog.snapshot.config
        let aliases = config.models.keys.filter { agent.policy.models?.contains($0) ?? true }.sorted()
        return .json(200, .object([
            "object": .string("list"),
            "data": .array(aliases.map { .object(["id": .string($0), "object": .string("model"), "created": .int(0), "owned_by": .string("aex")]) }),
        ]))
    }

    /// `GET /v1/tools`: the agent's allowed, enabled tools in OpenAI's function-tool shape.
    private func toolsList(for agent: Agent) -> HTTPResponse {
        let listed = tools(for: agent)
        return .json(200, .object([
            "object": .string("list"),
            "data": .array(listed.map { entry in
                .object([
                    "type": .string("function"),
                    "function": .object([
                        "name": .string(entry.tool.name), "description": .string(entry.tool.description), "parameters": entry.tool.parameters,
                    ]),
                    "price_micro": .int(entry.tool.priceMicro),
                ])
            }),
        ]))
    }

    /// The tools `agent` may call now: enabled, as configured (prices, timeouts), allowed by its policy.
    func tools(for agent: Agent) -> [ToolCatalog.Entry] {
        let config = catalog.snapshot.tools
        return tools.all.compactMap { ToolCallPolicy.effective($0, config) }.filter { ToolCallPolicy.allows(agent, $0.tool.name) }
    }

    /// Every tool with its effective price, and whether agents may call it now (a network tool is
    /// off until `tools.yaml` lists hosts).
    func toolsOverview() -> [(name: String, plugin: String, priceMicro: Int64, enabled: Bool)] {
        let config = catalog.snapshot.tools
        return tools.all.map { entry in
            let effective = ToolCallPolicy.effective(entry, config)
            return (entry.tool.name, entry.pluginName, (effective ?? entry).tool.priceMicro, effective != nil)
        }
    }

    // MARK: A tool call

    /// `POST /v1/tools/execute` (and MCP's `tools/call`): governed like a model call (SPEC §9
    /// order), with a worker in place of a provider; a given `execution_id` is its idempotency key
    /// (SPEC §8). `body` is `{"tool_name", "arguments", "execution_id"?}`.
    func executeTool(body: [UInt8], agent: Agent, runID: String?, responder: HTTPResponder) {
        let endpoint = ToolCallPolicy.endpoint
        let plan: ToolCallPolicy.Plan
        do {
            plan = try ToolCallPolicy.plan(body: body, agent: agent, catalog: tools, config: catalog.snapshot.tools)
        } catch {
            return refuse(error, executionID: executionIDs.make(), agent: agent, endpointName: endpoint, responder: responder)
        }
        guard let key = plan.clientExecutionID else { return runTool(plan, agent: agent, runID: runID, responder: responder, claim: nil) }
        once(key: key, endpointName: endpoint, canonicalBody: plan.canonicalBody, agent: agent, responder: responder) { [self] claim, current in
            runTool(plan, agent: current, runID: runID, responder: responder, claim: claim)
        }
    }

    private func runTool(_ plan: ToolCallPolicy.Plan, agent: Agent, runID: String?, responder: HTTPResponder, claim: IdempotencyClaim?) {
        let endpoint = ToolCallPolicy.endpoint
        let executionID = executionIDs.make()
        guard inFlight.add(1, ordering: .relaxed).newValue <= settings.upstreamInFlightMax else {
            releaseInFlightSlot()
            return refuse(CallRefusal(503, "overloaded", "too many calls in flight; retry shortly"),
                          executionID: executionID, agent: agent, endpointName: endpoint, responder: responder)
        }
        let admittedAtMillis = WallClock.monotonicMillis()
        let price = MicroUSD(plan.entry.tool.priceMicro)
        let admission = registry.admit(agentID: agent.id, name: agent.name, runID: runID, amount: price, tokens: 0, nowMillis: admittedAtMillis)
        if let refusal = Self.refusal(admission, cost: "tool '\(plan.entry.tool.name)' costs \(price) USD") {
            releaseInFlightSlot()
            reportExhaustion(of: runID, admission)
            guard refusal.status != 401 else { return responder.respond(AuthFailure.invalid.response) }
            return refuse(refusal, executionID: executionID, agent: agent, endpointName: endpoint, responder: responder)
        }
        let reservation = ExecutionLedger.Reservation(
            executionID: executionID, agentID: agent.id, agentName: agent.name, endpoint: endpoint, model: plan.entry.tool.name,
            amount: price, promptTokensBound: 0, completionTokensBound: 0, runID: runID)
        let invocation = ToolInvocation(entry: plan.entry, arguments: plan.arguments,
                                        answeredExecutionID: plan.clientExecutionID ?? executionID, runner: toolRunner,
                                        allowedHosts: plan.entry.tool.network ? catalog.snapshot.tools.allowedHosts : [])
        let governed = GovernedCall(proxy: self, work: .tool(invocation), body: [], reservation: reservation, responder: responder,
                                    admittedAtMillis: admittedAtMillis, upstreamResponseBytesMax: plan.entry.tool.outputBytesMax * 2 + 4_096,
                                    claim: claim, keptAnswerBytesMax: answers.limits.bytesMax)
        ledger.reserve(reservation, on: responder.loop) { recorded in
            governed.feed(recorded ? .reservationCommitted : .reservationRefused)
        }
    }

    // MARK: A call with an Idempotency-Key

    private func callOnce(_ endpoint: Endpoint, _ request: HTTPRequest, agent: Agent, runID: String?, responder: HTTPResponder) {
        guard let key = IdempotencyKey.validated(request.headers.values(for: IdempotencyKey.header)) else {
            return refuse(IdempotencyKey.refusal, executionID: executionIDs.make(), agent: agent, endpoint: endpoint, responder: responder)
        }
        guard let tape = try? JSONTape.parse(request.body) else {
            // Not JSON: refused by the plan like any such body, with nothing to compare.
            return call(endpoint, request, agent: agent, runID: runID, responder: responder, claim: nil)
        }
        once(key: key, endpointName: endpoint.rawValue, canonicalBody: tape.canonicalText(), agent: agent, responder: responder) {
            [self] claim, current in call(endpoint, request, agent: current, runID: runID, responder: responder, claim: claim)
        }
    }

    /// At most one run per (agent, endpoint, key) at a time, and a stored success replayed: joins
    /// the claims; the holder looks for a stored answer and replays it, refuses another body's key,
    /// or `run`s holding the claim (with the agent as it is then).
    private func once(key: String, endpointName: String, canonicalBody: [UInt8], agent: Agent, responder: HTTPResponder,
                      run: @escaping @Sendable (IdempotencyClaim, Agent) -> Void) {
        let scope = IdempotencyScope(agentID: agent.id, endpoint: endpointName, key: key)
        let joined = claims.join(scope, requestSHA256: SHA256.hex(canonicalBody)) { [self] resolution in
            responder.loop.execute { [self] in
                switch resolution {
                case .replay(let answer):
                    replay(answer, agent: agent, responder: responder)
                case .runFresh(let claim):
                    // A waiter whose client left runs nothing: the next one gets the turn.
                    guard responder.isConnected else { return claim.abandon() }
                    // The agent as it is now (it may have been paused, changed or deleted meanwhile).
                    guard let current = registry.agent(named: agent.name), current.id == agent.id else {
                        claim.abandon()
                        return responder.respond(AuthFailure.invalid.response)
                    }
                    runHolding(claim, endpointName, agent: current, responder: responder, run: run)
                }
            }
        }
        switch joined {
        case .holder(let claim): runHolding(claim, endpointName, agent: agent, responder: responder, run: run)
        case .waiting: return
        case .conflict: refuse(Self.keyReused, executionID: executionIDs.make(), agent: agent, endpointName: endpointName, responder: responder)
        }
    }

    static let keyReused = CallRefusal(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request body")

    /// The scope is this request's: replay the stored answer, refuse another body's key, or run.
    private func runHolding(_ claim: IdempotencyClaim, _ endpointName: String, agent: Agent, responder: HTTPResponder,
                            run: @escaping @Sendable (IdempotencyClaim, Agent) -> Void) {
        answers.lookup(claim.scope, on: responder.loop) { [self] found in
            let stored: IdempotentAnswer?
            switch found {
            case .success(let answer):
                stored = answer
            case .failure(let error):
                claim.abandon()
                logger?.error("stored answers cannot be read", ["error": .string("\(error)")])
                return responder.respond(.error(500, code: "ledger_unavailable", message: "the stored answers cannot be read"))
            }
            guard let stored else { return run(claim, agent) }
            guard stored.requestSHA256 == claim.requestSHA256 else {
                claim.abandon()
                return refuse(Self.keyReused, executionID: executionIDs.make(), agent: agent, endpointName: endpointName, responder: responder)
            }
            claim.fulfil(stored)
            replay(stored, agent: agent, responder: responder)
        }
    }

    /// The stored answer, as first sent, with the first call's execution id and cost.
    private func replay(_ answer: IdempotentAnswer, agent: Agent, responder: HTTPResponder) {
        var headers = [("content-type", answer.contentType)]
        if answer.contentType == "text/event-stream" { headers.append(("cache-control", "no-cache")) }
        headers.append(("x-aex-execution-id", answer.executionID))
        headers.append(("x-aex-cost-micro", String(answer.cost.value)))
        headers.append(("x-aex-idempotent-replay", "true"))
        if let remaining = registry.agent(named: agent.name)?.remaining {
            headers.append(("x-aex-budget-remaining-micro", String(remaining.value)))
        }
        responder.respond(HTTPResponse(status: answer.status, headers: headers, body: answer.body))
    }

    // MARK: A governed call

    /// `claim`: the call holds an `Idempotency-Key` scope; its successful answer is stored. Every
    /// refusal below drops the claim, which abandons it (the next waiter runs).
    private func call(_ endpoint: Endpoint, _ request: HTTPRequest, agent: Agent, runID: String?, responder: HTTPResponder, claim: IdempotencyClaim?) {
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
        guard let plugin = plugins.library(forType: plan.provider.type) else {
            return refuse(CallRefusal(503, "provider_not_configured", "no plugin serves provider type '\(plan.provider.type)'"),
                          executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        }
        if plan.request.stream, plugin.translateStreamEvent == nil {
            return refuse(CallRefusal(400, "unsupported_capability", "provider '\(plan.provider.name)' does not stream"),
                          executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        }
        guard inFlight.add(1, ordering: .relaxed).newValue <= settings.upstreamInFlightMax else {
            releaseInFlightSlot()
            return refuse(CallRefusal(503, "overloaded", "too many calls in flight; retry shortly"),
                          executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        }
        let admittedAtMillis = WallClock.monotonicMillis()
        let amount: MicroUSD
        switch admit(&plan, agent, runID: runID, nowMillis: admittedAtMillis) {
        case .success(let admitted):
            amount = admitted
        case .failure(let refusal):
            releaseInFlightSlot()
            guard refusal.status != 401 else { return responder.respond(AuthFailure.invalid.response) }
            return refuse(refusal, executionID: executionID, agent: agent, endpoint: endpoint, responder: responder)
        }

        let reservation = ExecutionLedger.Reservation(
            executionID: executionID, agentID: agent.id, agentName: agent.name, endpoint: endpoint.rawValue, model: plan.alias,
            amount: amount, promptTokensBound: plan.request.promptTokensBound, completionTokensBound: plan.completionTokensBound, runID: runID)
        let governed = GovernedCall(proxy: self, work: .provider(plan, plugin), body: request.body, reservation: reservation,
                                    responder: responder, admittedAtMillis: admittedAtMillis,
                                    upstreamResponseBytesMax: settings.upstreamResponseBytesMax,
                                    claim: claim, keptAnswerBytesMax: answers.limits.bytesMax)
        ledger.reserve(reservation, on: responder.loop) { recorded in
            governed.feed(recorded ? .reservationCommitted : .reservationRefused)
        }
    }

    /// Rate limit and budget, atomically; when the request named no output limit and the full one
    /// is not affordable, the largest affordable limit is tried once (and kept in `plan`). Returns
    /// the amount reserved, or the refusal (401 when the agent is gone).
    private func admit(_ plan: inout CallPlan, _ agent: Agent, runID: String?, nowMillis: Int64) -> Result<MicroUSD, CallRefusal> {
        func attempt(_ plan: CallPlan) throws(MoneyError) -> (MicroUSD, AgentRegistry.Admission) {
            let amount = try plan.model.pricing.cost(promptTokens: plan.request.promptTokensBound, completionTokens: plan.completionTokensBound)
            return (amount, registry.admit(agentID: agent.id, name: agent.name, runID: runID, amount: amount, tokens: plan.admittedTokens,
                                           nowMillis: nowMillis))
        }
        var (amount, admission): (MicroUSD, AgentRegistry.Admission)
        do {
            (amount, admission) = try attempt(plan)
            if case .budgetExceeded(let remaining, _) = admission, plan.addsOutputLimit,
               let affordable = affordableCompletionTokens(plan, remaining: remaining), affordable >= plan.request.choices {
                plan.outputTokensPerChoice = affordable / plan.request.choices
                (amount, admission) = try attempt(plan)
            }
        } catch {
            return .failure(CallRefusal(400, "invalid_request", "the request's cost bound is too large"))
        }
        guard let refusal = Self.refusal(admission, cost: "this call may cost up to \(amount) USD") else { return .success(amount) }
        reportExhaustion(of: runID, admission)
        return .failure(refusal)
    }

    /// A run's call refused for its budget: the run is exhausted (`--kill-on-exhaust`).
    private func reportExhaustion(of runID: String?, _ admission: AgentRegistry.Admission) {
        guard let runID, case .budgetExceeded(_, let refusingRun) = admission else { return }
        budgetExhausted(.run(runID: runID, byAgentBudget: refusingRun == nil))
    }

    /// An admission's refusal (401 when the agent is gone), or nil when it was admitted. `cost`
    /// says what the call would have cost, for the 402's message (built only then: an admitted
    /// call builds no text).
    private static func refusal(_ admission: AgentRegistry.Admission, cost: @autoclosure () -> String) -> CallRefusal? {
        switch admission {
        case .admitted:
            return nil
        case .rateLimited(let seconds):
            return CallRefusal(429, "rate_limit_exceeded", "rate limit reached; retry in \(seconds) s", retryAfterSeconds: seconds)
        case .budgetExceeded(let remaining, nil):
            return CallRefusal(402, "budget_exceeded", "\(cost()); the agent has \(max(remaining, .zero)) USD left")
        case .budgetExceeded(let remaining, let runID?):
            return CallRefusal(402, "budget_exceeded", "\(cost()); the run \(runID) has \(max(remaining, .zero)) USD left of its budget")
        case .gone:
            return CallRefusal(401, AuthFailure.invalid.code, AuthFailure.invalid.message)
        }
    }

    /// The most output tokens `remaining` pays for after the prompt bound; nil when not even that.
    private func affordableCompletionTokens(_ plan: CallPlan, remaining: MicroUSD) -> Int64? {
        guard let promptCost = try? plan.model.pricing.cost(promptTokens: plan.request.promptTokensBound, completionTokens: 0),
              remaining > promptCost, let room = try? remaining.subtracting(promptCost) else { return nil }
        let perMillion = plan.model.pricing.outputMicroPerMillionTokens
        guard perMillion > 0 else { return plan.completionTokensBound }
        let (high, low) = room.value.multipliedFullWidth(by: 1_000_000)
        let (tokens, _) = perMillion.dividingFullWidth((high: high, low: low))
        return min(tokens, plan.completionTokensBound)
    }

    // MARK: What a governed call asks of the proxy (loop thread)

    /// Nothing went out: the admission is undone, money and rate limit alike.
    func withdraw(_ call: GovernedCall) {
        let reservation = call.reservation
        registry.withdraw(agentID: reservation.agentID, name: reservation.agentName, runID: reservation.runID, reserved: reservation.amount,
                          tokens: call.admittedTokens, admittedAtMillis: call.admittedAtMillis)
    }

    func releaseInFlightSlot() {
        let left = inFlight.subtract(1, ordering: .relaxed).newValue
        assert(left >= 0, "more in-flight slots given back than taken")
    }

    /// This loop's egress, created on first use.
    func egress(for loop: EventLoop) throws -> Egress {
        try egress.value(for: loop) {
            let created = try Egress(loop: loop, plainHTTPOnLoop: settings.upstreamClient == .loop)
            try created.activate()
            return created
        }
    }

    /// Ends a reservation: in memory at once (money, and the rate window's tokens corrected to what
    /// the call used), in the ledger through the writer; `then` runs on the call's loop after the
    /// commit with the remaining budget, the cost charged (nil for a release), `recorded` (false
    /// when the ledger refused it — the settlement is then written again by `settlementRetry` until
    /// it lands, so the database catches up with memory) and the answer stored with it for the
    /// call's `Idempotency-Key` (`keep`, when the call holds a claim), if it was.
    func commitSettlement(_ call: GovernedCall, _ decision: GovernedCallMachine.SettlementDecision, keep: GovernedCallMachine.KeptAnswer?,
                          then: @escaping @Sendable (_ remaining: MicroUSD?, _ cost: MicroUSD?, _ recorded: Bool, _ stored: IdempotentAnswer?) -> Void) {
        let reservation = call.reservation
        var usedTokens: Int64?
        var charged: MicroUSD?
        var fault: ExecutionLedger.ProviderFault?
        switch decision {
        case .commit(let charge, _, _):
            charged = charge.cost
            fault = charge.fault
            if !charge.estimated, let prompt = charge.promptTokens, let completion = charge.completionTokens { usedTokens = prompt &+ completion }
        case .release:
            usedTokens = 0
        }
        let settled = registry.settle(agentID: reservation.agentID, name: reservation.agentName, runID: reservation.runID,
                                      reserved: reservation.amount, cost: charged ?? .zero,
                                      admission: (call.admittedAtMillis, call.admittedTokens), usedTokens: usedTokens)
        if let settled, charged != nil { charged = settled.cost }  // cut so that spent never passes Int64.max
        if let settled {
            if let runID = reservation.runID, let runRemaining = settled.runRemaining, runRemaining <= .zero {
                budgetExhausted(.run(runID: runID, byAgentBudget: false))
            }
            if settled.remaining <= .zero { budgetExhausted(.agent(agentID: reservation.agentID)) }
        }
        let outcome: ExecutionLedger.Outcome = switch decision {
        case .commit(let charge, let status, let reason):
            .committed(cost: charged ?? charge.cost, promptTokens: charge.promptTokens, completionTokens: charge.completionTokens,
                       estimated: charge.estimated, status: status, reason: reason, fault: charge.fault)
        case .release(let reason, let status):
            .released(reason: reason, status: status)
        }
        if let fault {
            logger?.warn("provider reported impossible usage", [
                "execution_id": .string(reservation.executionID), "provider": .string(call.providerName), "reason": .string(fault.reason),
            ])
        }
        countSettled(call, decision, cost: charged)
        let remaining = settled?.remaining
        let cost = charged
        var stored: IdempotentAnswer?
        if let keep, let claim = call.claim, let cost {
            stored = IdempotentAnswer(scope: claim.scope, requestSHA256: claim.requestSHA256, executionID: reservation.executionID,
                                      status: keep.status, contentType: keep.contentType, cost: cost, body: keep.body)
        }
        guard let answer = stored else {
            return ledger.settle(reservation, outcome, on: call.responder.loop) { recorded in then(remaining, cost, recorded, nil) }
        }
        ledger.settle(reservation, outcome, keeping: (answer, answers.limits.bytesMax), on: call.responder.loop) { recorded in
            then(remaining, cost, recorded, recorded ? answer : nil)
        }
    }

    private func refuse(_ refusal: CallRefusal, executionID: String, agent: Agent, endpoint: Endpoint, responder: HTTPResponder) {
        refuse(refusal, executionID: executionID, agent: agent, endpointName: endpoint.rawValue, responder: responder)
    }

    /// Counts a settled call for `GET /metrics`.
    private func countSettled(_ call: GovernedCall, _ decision: GovernedCallMachine.SettlementDecision, cost: MicroUSD?) {
        let reservation = call.reservation
        var tally = CallMetrics.CallTally(requests: 1)
        let status: Int
        switch decision {
        case .commit(let charge, let committedStatus, _):
            status = committedStatus
            tally.promptTokens = charge.promptTokens ?? 0
            tally.completionTokens = charge.completionTokens ?? 0
            tally.spendMicro = cost?.value ?? 0
        case .release(_, let releasedStatus):
            status = releasedStatus
        }
        var tool: CallMetrics.ToolKey?
        if case .tool = call.work {
            let outcome = if case .commit = decision { "ok" } else if status == 504 { "timeout" } else { "failed" }
            tool = CallMetrics.ToolKey(tool: reservation.model, outcome: outcome)
        }
        let now = WallClock.monotonicMicros()
        metrics.recordSettled(
            shard: call.responder.loop.index,
            CallMetrics.CallKey(agent: reservation.agentName, model: reservation.model, endpoint: reservation.endpoint,
                                statusClass: CallMetrics.statusClass(status)),
            tally: tally, tool: tool, requestMicros: now - call.startedAtMicros, upstreamMicros: call.sentAtMicros.map { now - $0 })
    }

    /// Calls in flight now (admitted, not yet settled).
    var callsInFlight: Int { inFlight.load(ordering: .relaxed) }

    private func refuse(_ refusal: CallRefusal, executionID: String, agent: Agent, endpointName: String, responder: HTTPResponder) {
        metrics.recordDenial(shard: responder.loop.index, agent: agent.name, reason: refusal.code)
        ledger.deny(executionID: executionID, agentID: agent.id, agentName: agent.name, endpoint: endpointName,
                    status: refusal.status, code: refusal.code, reason: refusal.message)
        responder.respond(refusal.response)
    }

    /// A refused credential on an agent route: counted, and recorded as a denial without an agent
    /// when the sampler says so (bounded rows per minute, bounded fields: see `AuthRefusalSampler`).
    func recordAuthenticationFailure(_ failure: AuthFailure, path: String) {
        metrics.recordDenial(shard: Int.max, agent: "", reason: failure.code)
        guard let unrecordedBefore = authRefusals.withLock({ $0.refusal(nowMillis: WallClock.monotonicMillis()) }) else { return }
        ledger.deny(executionID: "", agentID: nil, agentName: nil, endpoint: AuthRefusalSampler.recordedEndpoint(path),
                    status: 401, code: failure.code, reason: failure.message, unrecordedBefore: unrecordedBefore)
    }

}
