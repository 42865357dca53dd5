/// One admitted call on its event loop: runs the actions of its `GovernedCallMachine` (plugin
/// hooks, the provider transfer, the client's responder, the settlement) and feeds back what they
/// produced. Every decision about money and answers is the machine's; this class only does I/O.
///
/// Loop-confined after `start`: the writer and egress hand their completions back to the loop.
/// Events produced while actions run are queued and handled after them, in order.
final class GovernedCall: @unchecked Sendable {
    /// Above this many bytes waiting for the client, the provider transfer is paused.
    static let clientBufferHighWaterBytes = 256 * 1024

    /// What the call runs: a provider call (its plan and plugin) or a tool call (a worker).
    enum Work {
        case provider(CallPlan, PluginLibrary)
        case tool(ToolInvocation)
    }

    let work: Work
    /// The client's request body.
    let body: [UInt8]
    let reservation: ExecutionLedger.Reservation
    let responder: HTTPResponder
    /// When the rate window admitted it (its entry there is found by this and the plan's tokens).
    let admittedAtMillis: Int64
    /// The `Idempotency-Key` scope the call holds: fulfilled with the answer stored at its commit,
    /// else abandoned (the next duplicate waiting runs).
    let claim: IdempotencyClaim?

    private let proxy: ProxyAPI
    private var machine: GovernedCallMachine
    private var queued: [GovernedCallMachine.Event] = []
    private var running = false
    private var upstream: UpstreamRequest?
    /// A local provider's whole stream, until it is relayed.
    private var localStream: [UInt8] = []
    private var egress: Egress?
    private var handle: Egress.Handle?
    private var scanner = SSEScanner()
    private var paused = false
    /// What the plugin keeps between the events of this stream (ABI 1.3 `set_stream_state`).
    private var streamState: [UInt8] = []
    /// For the request and upstream duration metrics (monotonic microseconds).
    let startedAtMicros = WallClock.monotonicMicros()
    private(set) var sentAtMicros: Int64?

    init(proxy: ProxyAPI, work: Work, body: [UInt8], reservation: ExecutionLedger.Reservation,
         responder: HTTPResponder, admittedAtMillis: Int64, upstreamResponseBytesMax: Int, claim: IdempotencyClaim?,
         keptAnswerBytesMax: Int) {
        self.proxy = proxy
        self.work = work
        self.body = body
        self.reservation = reservation
        self.responder = responder
        self.admittedAtMillis = admittedAtMillis
        self.claim = claim
        let kept = claim == nil ? nil : keptAnswerBytesMax
        switch work {
        case .provider(let plan, _):
            machine = GovernedCallMachine(.init(
                executionID: reservation.executionID, providerName: plan.provider.name, providerTimeoutSeconds: plan.provider.timeoutSeconds,
                upstreamResponseBytesMax: upstreamResponseBytesMax, pricing: plan.model.pricing, reasoning: plan.model.capabilities.reasoning,
                reserved: reservation.amount, promptTokensBound: plan.request.promptTokensBound,
                completionTokensBound: plan.completionTokensBound, embeddings: plan.endpoint == .embeddings,
                streamUsageRequested: plan.request.streamUsageRequested, apiKey: plan.apiKey, keptAnswerBytesMax: kept))
        case .tool(let invocation):
            machine = GovernedCallMachine(.init(
                executionID: reservation.executionID, providerName: "tool \(invocation.entry.tool.name)",
                providerTimeoutSeconds: max(1, invocation.entry.tool.timeoutMilliseconds / 1_000), upstreamResponseBytesMax: upstreamResponseBytesMax,
                pricing: ModelPricing(inputMicroPerMillionTokens: 0, outputMicroPerMillionTokens: 0), reasoning: false,
                reserved: reservation.amount, promptTokensBound: 0, completionTokensBound: 0, embeddings: false,
                streamUsageRequested: false, apiKey: nil, keptAnswerBytesMax: kept))
        }
    }

    /// The tokens the rate window admitted (a tool call admits none).
    var admittedTokens: Int64 {
        if case .provider(let plan, _) = work { return plan.admittedTokens }
        return 0
    }

    /// Who answers: the provider's name, or the tool's.
    var providerName: String { machine.context.providerName }

    /// Feeds one event; runs the machine's actions (and the events they produce) in order.
    func feed(_ event: GovernedCallMachine.Event) {
        guard !running else { return queued.append(event) }
        running = true
        for action in machine.handle(event) { run(action) }
        while !queued.isEmpty {
            let next = queued.removeFirst()
            for action in machine.handle(next) { run(action) }
        }
        running = false
    }

    private func run(_ action: GovernedCallMachine.Action) {
        switch action {
        case .withdrawAdmission:
            proxy.withdraw(self)
            claim?.abandon()
        case .releaseInFlightSlot: proxy.releaseInFlightSlot()
        case .buildRequest: buildRequest()
        case .send: send()
        case .relayLocalStream:
            watchClient()
            receive(localStream)
            localStream = []
            feed(.streamEnded(.response(status: 200, contentType: "text/event-stream", body: [])))
        case .translate(let status, _, let upstreamBody):
            guard case .provider(let plan, let plugin) = work else { return }
            do {
                let translated = try PluginCall.translateResponse(plugin, plan, body: body, status: status, upstreamBody: upstreamBody)
                feed(.translated(body: translated.body, prompt: translated.promptTokens, completion: translated.completionTokens))
            } catch {
                feed(.translationFailed(message: error.message))
            }
        case .cancelUpstream:
            if let handle { egress?.cancel(handle) }
        case .startClientStream:
            responder.startStream(HTTPResponseHead(status: 200, headers: [
                ("content-type", "text/event-stream"), ("cache-control", "no-cache"), ("x-aex-execution-id", reservation.executionID),
            ]))
        case .sendChunk(let bytes): responder.sendChunk(bytes)
        case .settle(let decision, let keep):
            responder.onDrain = nil
            responder.onClose = nil
            proxy.commitSettlement(self, decision, keep: keep) { [self] remaining, cost, recorded, stored in
                if let stored { claim?.fulfil(stored) } else { claim?.abandon() }
                feed(.settlementCommitted(remaining: remaining, cost: cost, recorded: recorded))
            }
        case .respond(let response): responder.respond(response)
        case .endStream: responder.endStream()
        }
    }

    // MARK: The request

    private func buildRequest() {
        guard case .provider(let plan, let plugin) = work else { return feed(.built(.tool)) }
        let built: ProviderOutput
        do {
            built = try PluginCall.buildRequest(plugin, plan, body: body, maxOutputTokens: plan.addsOutputLimit ? plan.outputTokensPerChoice : 0)
        } catch {
            guard let code = error.clientErrorCode else { return feed(.built(.failed(message: error.message))) }
            return feed(.built(.invalid(code: code, message: error.message)))
        }
        if let status = built.localStatus {
            guard plan.request.stream, (200..<300).contains(status) else {
                return feed(.built(.local(status: status, contentType: built.localContentType, body: built.body,
                                          prompt: built.promptTokens, completion: built.completionTokens)))
            }
            // A local provider's stream: its events go through the same relay as a provider's.
            localStream = built.body
            return feed(.built(.localStream))
        }
        guard let path = built.path else { return feed(.built(.failed(message: "the provider plugin described no request"))) }
        // The key goes in the header the plugin names (ABI 1.3), else as a bearer token; a plugin's
        // own header of either name is dropped.
        var headers = built.headers.filter { let name = $0.0.lowercased(); return name != "authorization" && name != plugin.keyHeader }
        if let key = plan.apiKey {
            if let keyHeader = plugin.keyHeader { headers.append((keyHeader, key)) } else { headers.append(("Authorization", "Bearer \(key)")) }
        }
        var request = UpstreamRequest(
            method: built.method, url: plan.provider.baseURL + path, headers: headers, body: built.body,
            connectTimeoutMilliseconds: plan.provider.connectTimeoutSeconds * 1_000,
            totalTimeoutMilliseconds: plan.provider.timeoutSeconds * 1_000, responseBytesMax: machine.context.upstreamResponseBytesMax)
        if plan.request.stream { request.idleTimeoutSeconds = plan.provider.timeoutSeconds }
        do {
            egress = try proxy.egress(for: responder.loop)
        } catch {
            return feed(.egressUnavailable(detail: "\(error)"))
        }
        upstream = request
        feed(.built(.upstream(streaming: plan.request.stream)))
    }

    private func send() {
        sentAtMicros = WallClock.monotonicMicros()
        if case .tool(let invocation) = work { return sendTool(invocation) }
        guard case .provider(let plan, _) = work, let egress, let upstream else { return }
        self.upstream = nil
        guard plan.request.stream else {
            handle = egress.start(upstream) { [self] result in feed(.answered(translatingError(result))) }
            return
        }
        watchClient()
        handle = egress.start(upstream, onData: { [self] chunk in receive(chunk) },
                              completion: { [self] result in feed(.streamEnded(translatingError(result))) })
    }

    /// A provider's error answer, OpenAI-shaped by a plugin that translates errors (ABI 1.3); any
    /// other result, or a translation that fails, unchanged.
    private func translatingError(_ result: UpstreamResult) -> UpstreamResult {
        guard case .response(let status, _, let upstreamBody) = result, !(200..<300).contains(status),
              case .provider(let plan, let plugin) = work, plugin.translatesErrors,
              let translated = try? PluginCall.translateResponse(plugin, plan, body: body, status: status, upstreamBody: upstreamBody)
        else { return result }
        return .response(status: status, contentType: "application/json", body: translated.body)
    }

    // MARK: A stream's bytes

    private func watchClient() {
        responder.onClose = { [self] in feed(.clientGone) }
        responder.onDrain = { [self] in
            if paused, let handle {
                paused = false
                egress?.resume(handle)
            }
        }
        responder.watchConnection()
    }

    /// Provider bytes (or a local stream's body): split into events, each translated by the plugin.
    private func receive(_ chunk: UnsafeRawBufferPointer) -> StreamAction {
        guard machine.acceptsStreamEvents else { return .accepted }
        if egress != nil, responder.pendingOutputBytes > Self.clientBufferHighWaterBytes {
            paused = true
            return .pause
        }
        let events: [SSEScanner.Event]
        do {
            events = try scanner.feed(chunk)
        } catch {
            feed(.streamFailed(message: "the provider sent an oversized stream event"))
            return .accepted
        }
        for sse in events where machine.acceptsStreamEvents {
            if sse.data.elementsEqual("[DONE]".utf8) {
                feed(.streamDone)
                continue
            }
            guard case .provider(let plan, let plugin) = work else { return .accepted }
            do {
                let event = try PluginCall.translateStreamEvent(plugin, plan, body: body, data: sse.data, state: streamState)
                if let state = event.state { streamState = state }
                feed(.streamEvent(.init(name: plugin.sendsUnnamedEvents ? nil : sse.name, emitted: event.emitted,
                                        promptTokens: event.prompt, completionTokens: event.completion,
                                        usageOnly: event.usageOnly, textTokensBound: StreamedText.tokensBound(sse.data))))
                if event.ended { feed(.streamDone) }
            } catch {
                feed(.streamFailed(message: error.message))
            }
        }
        return .accepted
    }

    private func receive(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { receive($0) }
    }

    // MARK: A tool call

    private func sendTool(_ invocation: ToolInvocation) {
        let tool = invocation.entry.tool
        let request = ToolFrames.request(tool: tool.name, arguments: invocation.arguments, executionID: reservation.executionID,
                                         agent: reservation.agentName, allowedHosts: invocation.allowedHosts)
        let price = reservation.amount
        let accepted = invocation.runner.run(tool: tool, pluginPath: invocation.entry.pluginPath, sha256: invocation.entry.sha256,
                                             request: request, on: responder.loop) { [self] outcome in
            switch outcome {
            case .answered(.result(let result, let reported)):
                let cost = min(reported.map { MicroUSD($0) } ?? price, price)
                feed(.toolAnswered(body: invocation.answerBody(result: result, cost: cost), cost: cost))
            case .answered(.failed(let message)):
                feed(.toolFailed(status: 502, code: "tool_failed", message: "tool '\(tool.name)' failed: \(message)"))
            case .failed(let reason):
                feed(.toolFailed(status: 502, code: "tool_failed", message: "tool '\(tool.name)' failed: \(reason)"))
            case .timedOut:
                feed(.toolFailed(status: 504, code: "tool_timeout",
                                 message: "tool '\(tool.name)' ran past its timeout of \(tool.timeoutMilliseconds) ms and was stopped"))
            }
        }
        if !accepted {
            feed(.toolFailed(status: 503, code: "overloaded", message: "too many calls of tool '\(tool.name)' are waiting; retry shortly"))
        }
    }
}
