/// One streamed call, on its event loop: relays the provider's Server-Sent Events to the client as
/// they arrive (each event's data through the plugin's stream hook), holds back the usage-only
/// chunk unless the client asked for it, pauses the provider while the client is slow, stops the
/// provider when the client leaves, and settles exactly once for what was produced.
///
/// Invariants: loop-confined; one settlement per relay; the client's stream ends only after the
/// settlement committed; cost is the provider's usage when reported, else an upper bound of what was
/// streamed (marked estimated), never above the reservation.
final class StreamRelay: @unchecked Sendable {  // loop-confined; the writer hands completions back to the loop
    /// Above this many bytes waiting for the client, the provider transfer is paused.
    static let clientBufferHighWaterBytes = 256 * 1024

    private let proxy: ProxyAPI
    private let call: GovernedCall
    private var plan: CallPlan { call.plan }
    private var responder: HTTPResponder { call.responder }
    /// Nil for a local provider's stream (its whole body came from the plugin).
    private let egress: Egress?
    private var handle: Egress.Handle?
    private var scanner = SSEScanner()
    private var started = false
    private var clientGone = false
    private var settled = false
    private var paused = false
    /// The provider ended with `data: [DONE]` (chat completions); relayed at the end if so.
    private var sawDone = false
    private var failure: String?
    private var promptTokens: Int64?
    private var completionTokens: Int64?
    /// An upper bound of the output tokens produced so far: the UTF-8 bytes of the text the events
    /// carried (a token is at least one byte), and one per event that carried any (see
    /// `StreamedText`).
    private var producedTokensBound: Int64 = 0

    init(proxy: ProxyAPI, call: GovernedCall, egress: Egress?) {
        self.proxy = proxy
        self.call = call
        self.egress = egress
    }

    /// A local provider's stream: its events are relayed as they would be from a provider.
    func startLocal(_ body: [UInt8]) {
        responder.onClose = { [self] in clientGone = true }
        responder.watchConnection()
        _ = body.withUnsafeBytes { receive($0) }
        finish(clientGone ? .cancelled : .response(status: 200, contentType: "text/event-stream", body: []))
    }

    func start(_ request: UpstreamRequest) {
        guard let egress else { return }
        responder.onClose = { [self] in
            clientGone = true
            if let handle { egress.cancel(handle) }
        }
        responder.onDrain = { [self] in
            if paused, let handle {
                paused = false
                egress.resume(handle)
            }
        }
        responder.watchConnection()
        handle = egress.start(request, onData: { [self] chunk in receive(chunk) }, completion: { [self] result in finish(result) })
    }

    // MARK: Provider bytes

    private func receive(_ chunk: UnsafeRawBufferPointer) -> StreamAction {
        if clientGone || failure != nil { return .accepted }
        if egress != nil, responder.pendingOutputBytes > Self.clientBufferHighWaterBytes {
            paused = true
            return .pause
        }
        let events: [SSEScanner.Event]
        do {
            events = try scanner.feed(chunk)
        } catch {
            fail("the provider sent an oversized stream event")
            return .accepted
        }
        for sse in events where failure == nil {
            if sse.data.elementsEqual("[DONE]".utf8) {
                sawDone = true
                continue
            }
            producedTokensBound &+= StreamedText.tokensBound(sse.data)
            do {
                let event = try PluginCall.translateStreamEvent(call.plugin, plan, body: call.body, data: sse.data)
                if let prompt = event.prompt { promptTokens = prompt }
                if let completion = event.completion { completionTokens = completion }
                if event.usageOnly && !plan.request.streamUsageRequested { continue }
                for emitted in event.emitted { send(emitted, name: sse.name) }
            } catch {
                fail(error.message)
            }
        }
        return .accepted
    }

    private func send(_ data: [UInt8], name: [UInt8]?) {
        if !started { startClientStream() }
        var frame: [UInt8] = []
        if let name { frame += Array("event: ".utf8) + name + [0x0a] }
        frame += Array("data: ".utf8) + data + [0x0a, 0x0a]
        responder.sendChunk(frame)
    }

    private func startClientStream() {
        started = true
        responder.startStream(HTTPResponseHead(status: 200, headers: [
            ("content-type", "text/event-stream"), ("cache-control", "no-cache"),
            ("x-aex-execution-id", call.reservation.executionID),
        ]))
    }

    /// A malformed or oversized event: stop the provider; the client gets an error event.
    private func fail(_ message: String) {
        guard failure == nil else { return }
        failure = message
        if let handle { egress?.cancel(handle) }
    }

    // MARK: The end

    private func finish(_ result: UpstreamResult) {
        guard !settled else { return }
        settled = true
        responder.onDrain = nil
        responder.onClose = nil
        switch result {
        case .response(let status, let contentType, let upstreamBody) where !(200..<300).contains(status):
            // Refused before any byte streamed: relayed like any provider error, nothing owed.
            return settleAndAnswer(.released(reason: "provider answered \(status)", status: status),
                                   error: ProxyAPI.relay(status: status, contentType: contentType, body: upstreamBody, redacting: plan.apiKey))
        case .unavailable(let detail) where !started && failure == nil:
            return settleAndAnswer(.released(reason: "provider unreachable: \(detail)", status: 502),
                                   error: .error(502, code: "upstream_unavailable", message: "provider '\(plan.provider.name)' is unreachable: \(detail)"))
        case .timedOut where !started && failure == nil:
            return settleAndAnswer(.released(reason: "provider timed out", status: 504),
                                   error: .error(504, code: "upstream_timeout", message: "provider '\(plan.provider.name)' did not answer in time"))
        default:
            break
        }
        let reason: String? = switch result {
        case .cancelled where clientGone: "client disconnected"
        case .cancelled, .response: failure
        case .unavailable(let detail): failure ?? "provider failed mid-stream: \(detail)"
        case .timedOut: failure ?? "provider went silent mid-stream"
        case .tooLarge: failure ?? "provider stream too large"
        }
        let charge = self.charge()
        let outcome = ExecutionLedger.Outcome.committed(
            cost: charge.cost, promptTokens: charge.estimated ? promptTokens : charge.promptTokens,
            completionTokens: charge.estimated ? completionTokens : charge.completionTokens, estimated: charge.estimated, status: 200,
            reason: reason, fault: charge.fault)
        proxy.commitSettlement(call, outcome) { [self] _, _, recorded in
            guard !clientGone else { return }
            if !started { startClientStream() }
            if let reason {
                let event = JSONValue.object(["error": .object([
                    "message": .string(reason), "type": .string("server_error"), "code": .string("upstream_stream_error"), "param": .null,
                ])])
                responder.sendChunk(Array("data: \(event.canonicalText)\n\n".utf8))
            } else if !recorded {
                responder.sendChunk(Array(#"data: {"error":{"message":"the ledger could not record the settlement","type":"server_error","code":"ledger_unavailable","param":null}}"#.utf8) + [0x0a, 0x0a])
            }
            if sawDone || reason != nil { responder.sendChunk(Array("data: [DONE]\n\n".utf8)) }
            responder.endStream()
        }
    }

    private func settleAndAnswer(_ outcome: ExecutionLedger.Outcome, error: HTTPResponse) {
        proxy.commitSettlement(call, outcome) { [responder] _, _, _ in
            responder.respond(error)
        }
    }

    /// The provider's usage when reported (checked by `UsageCharge`); else the prompt bound and an
    /// upper bound of what was streamed, capped at the output bound: never below what was
    /// produced, never above the reservation. A reasoning model may bill tokens it never streams,
    /// so without usage it is charged the reservation.
    private func charge() -> UsageCharge.Charge {
        if promptTokens != nil, completionTokens != nil {
            return ProxyAPI.charge(call, prompt: promptTokens, completion: completionTokens)
        }
        let reserved = call.reservation.amount
        guard !plan.model.capabilities.reasoning else {
            return UsageCharge.Charge(cost: reserved, promptTokens: nil, completionTokens: nil, estimated: true, fault: nil)
        }
        let produced = min(producedTokensBound, plan.completionTokensBound)
        let cost = (try? plan.model.pricing.cost(promptTokens: plan.request.promptTokensBound, completionTokens: produced)) ?? reserved
        return UsageCharge.Charge(cost: min(cost, reserved), promptTokens: nil, completionTokens: nil, estimated: true, fault: nil)
    }
}
