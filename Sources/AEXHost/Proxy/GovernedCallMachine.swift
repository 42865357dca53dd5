/// The life of one admitted call, from its reservation to its answer, as a pure state machine:
/// events in (the reservation committed or refused, the plugin's request or local answer, the
/// provider's answer, stream events, errors and timeouts, the client leaving, the settlement
/// committed or refused), actions out (build the request, send, translate, relay, settle, answer,
/// give back the in-flight slot). The driver (`GovernedCall`) runs the actions on the call's loop
/// and feeds back what they produced. Plain and streamed calls share it, and the mapping from an
/// upstream outcome to a settlement exists here only.
///
/// Invariants, asserted in `handle` and checked after every event by the tests:
/// - an admitted call is settled exactly once, unless its reservation was refused (then its
///   admission is withdrawn instead);
/// - nothing reaches the client before the settlement commits, except stream chunks (a stream's
///   end, or an error answer, waits for it);
/// - the in-flight slot is given back exactly once, when the call settles or is withdrawn;
/// - an answer is kept (for an `Idempotency-Key`) only with a commit, and only when it is a
///   success the client received whole: a 2xx answer, or a stream that ended without failure,
///   cut or disconnect — byte for byte what the client was sent;
/// - after `finished`, every event is ignored.
struct GovernedCallMachine {
    enum State: Equatable {
        /// The reservation is being written.
        case reserving
        /// The reservation is durable; the plugin describes the request.
        case building
        /// A plain call is with the provider.
        case awaitingAnswer
        /// The provider's 2xx answer is with the plugin.
        case translating
        /// A streamed call: events are relayed as they arrive.
        case streaming
        /// The settlement is being written; the answer waits for it.
        case settling
        case finished
    }

    /// What the plugin's `build_request` produced.
    enum Built {
        /// An upstream request, ready to send (`streaming`: relayed as events).
        case upstream(streaming: Bool)
        /// A local answer (not streamed).
        case local(status: Int, contentType: String?, body: [UInt8], prompt: Int64?, completion: Int64?)
        /// A local provider's stream: its events follow as `streamEvent`s, then `streamEnded`.
        case localStream
        case failed(message: String)
        /// The plugin found the client's request impossible for its provider (a parameter it cannot
        /// honour, an endpoint it does not serve): a 400 with `code`, nothing owed.
        case invalid(code: String, message: String)
        /// A tool call: `send` hands it to a tool worker; `toolAnswered` or `toolFailed` follows.
        case tool
    }

    /// One translated stream event.
    struct StreamEvent {
        /// The event's name (`event:` line), when it had one.
        var name: [UInt8]?
        /// The data the plugin emitted for the client, in order.
        var emitted: [[UInt8]]
        var promptTokens: Int64?
        var completionTokens: Int64?
        /// The event carried only usage (sent only if the client asked for usage).
        var usageOnly: Bool
        /// An upper bound of the output tokens the event carried (`StreamedText`).
        var textTokensBound: Int64
    }

    enum Event {
        case reservationCommitted
        case reservationRefused
        case built(Built)
        /// The call could not be sent (no egress on this loop).
        case egressUnavailable(detail: String)
        /// A plain call's upstream outcome.
        case answered(UpstreamResult)
        case translated(body: [UInt8], prompt: Int64?, completion: Int64?)
        case translationFailed(message: String)
        case streamEvent(StreamEvent)
        /// `data: [DONE]` (chat completions' end marker).
        case streamDone
        /// An event the relay could not take (oversized, or the plugin refused it).
        case streamFailed(message: String)
        /// The stream's transfer ended (or never started: a refusal, a dead provider).
        case streamEnded(UpstreamResult)
        /// A tool worker's result, as the client's body, and what it costs (at most the price).
        case toolAnswered(body: [UInt8], cost: MicroUSD)
        /// A tool call failed (the tool's error, a crash, too much output: 502; its timeout: 504).
        case toolFailed(status: Int, code: String, message: String)
        /// The client's connection closed (streams only; a plain answer is simply dropped).
        case clientGone
        case settlementCommitted(remaining: MicroUSD?, cost: MicroUSD?, recorded: Bool)
    }

    enum Action {
        /// The reservation was refused: give the admission back (money and rate capacity).
        case withdrawAdmission
        case buildRequest
        case send
        /// Relay a local provider's stream (its whole body is at hand), then end it.
        case relayLocalStream
        /// Ask the plugin to translate a plain call's 2xx answer.
        case translate(status: Int, contentType: String?, body: [UInt8])
        case cancelUpstream
        case startClientStream
        case sendChunk([UInt8])
        /// Settle in memory and in the ledger (storing `keep`, when there is one, with the
        /// commit); `settlementCommitted` follows.
        case settle(SettlementDecision, keep: KeptAnswer?)
        case respond(HTTPResponse)
        case endStream
        case releaseInFlightSlot
    }

    /// What a settlement does, as the machine decides it (the driver turns it into a ledger outcome).
    enum SettlementDecision: Equatable {
        case commit(UsageCharge.Charge, status: Int, reason: String?)
        case release(reason: String, status: Int)
    }

    /// A successful answer as its client receives it (a stream: the SSE bytes of its body), kept
    /// so that a retry with the same `Idempotency-Key` is answered with it.
    struct KeptAnswer: Equatable {
        var status: Int
        var contentType: String
        var body: [UInt8]
    }

    /// What the machine knows of the call: pure values only.
    struct Context {
        var executionID: String
        var providerName: String
        var providerTimeoutSeconds: Int
        var upstreamResponseBytesMax: Int
        var pricing: ModelPricing
        var reasoning: Bool
        var reserved: MicroUSD
        var promptTokensBound: Int64
        var completionTokensBound: Int64
        var embeddings: Bool
        var streamUsageRequested: Bool
        /// The provider key, redacted from relayed error bodies.
        var apiKey: String?
        /// The largest answer kept for an `Idempotency-Key`; nil when the call carries none.
        var keptAnswerBytesMax: Int? = nil
    }

    let context: Context
    private(set) var state = State.reserving
    private(set) var settlements = 0
    private(set) var slotsReleased = 0
    private(set) var withdrawn = false

    // A plain call's answer (or any error answer) waiting for its settlement.
    private var pendingAnswer: HTTPResponse?
    private var answerCarriesCost = false
    // A plain call's 2xx answer while the plugin translates it.
    private var pendingStatus = 200
    private var pendingContentType: String?
    // A stream's progress.
    private var started = false
    private var clientGone = false
    private var sawDone = false
    private var failure: String?
    private var promptTokens: Int64?
    private var completionTokens: Int64?
    private var producedTokensBound: Int64 = 0
    /// The reason recorded with a stream's commit, also sent as its error event.
    private var streamEndReason: String?
    /// The stream's bytes as sent to the client, while they fit `keptAnswerBytesMax`; nil when
    /// not kept (no key, or too large).
    private var keptStream: [UInt8]?

    init(_ context: Context) {
        self.context = context
        if context.keptAnswerBytesMax != nil { keptStream = [] }
    }

    /// Whether stream events are still wanted (not after a failure or the client leaving).
    var acceptsStreamEvents: Bool { state == .streaming && !clientGone && failure == nil }

    mutating func handle(_ event: Event) -> [Action] {
        let actions = transition(event)
        assert(settlements <= 1, "a call settled twice")
        assert(slotsReleased <= 1, "an in-flight slot given back twice")
        assert(!(withdrawn && settlements > 0), "a withdrawn call settled")
        return actions
    }

    private mutating func transition(_ event: Event) -> [Action] {
        switch (state, event) {
        case (.finished, _):
            return []
        case (.reserving, .reservationCommitted):
            state = .building
            return Self.buildRequestOnly
        case (.reserving, .reservationRefused):
            state = .finished
            withdrawn = true
            slotsReleased += 1
            return [.withdrawAdmission, .releaseInFlightSlot,
                    .respond(.error(500, code: "ledger_unavailable", message: "the ledger could not record the reservation"))]
        case (.building, .built(let built)):
            return afterBuild(built)
        case (.building, .egressUnavailable(let detail)):
            return settle(.release(reason: "egress unavailable", status: 502),
                          answer: .error(502, code: "upstream_unavailable", message: "cannot reach providers: \(detail)"))
        case (.awaitingAnswer, .answered(let result)):
            return afterAnswer(result)
        case (.awaitingAnswer, .toolAnswered(let body, let cost)):
            // A tool is charged what it reported, never more than its price (the reservation).
            let charge = UsageCharge.Charge(cost: min(cost, context.reserved), promptTokens: nil, completionTokens: nil, estimated: false,
                                            fault: nil)
            var keep: KeptAnswer?
            if let bytesMax = context.keptAnswerBytesMax, body.count <= bytesMax {
                keep = KeptAnswer(status: 200, contentType: "application/json", body: body)
            }
            return settle(.commit(charge, status: 200, reason: nil),
                          answer: HTTPResponse(status: 200, headers: [("content-type", "application/json")], body: body),
                          carriesCost: true, keep: keep)
        case (.awaitingAnswer, .toolFailed(let status, let code, let message)):
            return settle(.release(reason: message, status: status), answer: .error(status, code: code, message: message))
        case (.translating, .translated(let body, let prompt, let completion)):
            return succeed(status: pendingStatus, contentType: pendingContentType, body: body, prompt: prompt, completion: completion)
        case (.translating, .translationFailed(let message)):
            // The provider answered and may bill: charge the reservation, marked estimated.
            let charge = UsageCharge.Charge(cost: context.reserved, promptTokens: nil, completionTokens: nil, estimated: true, fault: nil)
            return settle(.commit(charge, status: 502, reason: nil),
                          answer: .error(502, code: "provider_plugin_error", message: message), carriesCost: true)
        case (.streaming, .streamEvent(let event)):
            return relay(event)
        case (.streaming, .streamDone):
            sawDone = true
            return []
        case (.streaming, .streamFailed(let message)):
            guard failure == nil else { return [] }
            failure = message
            return Self.cancelUpstreamOnly
        case (.streaming, .clientGone):
            guard !clientGone else { return [] }
            clientGone = true
            return Self.cancelUpstreamOnly
        case (.streaming, .streamEnded(let result)):
            return endStream(result)
        case (.settling, .settlementCommitted(let remaining, let cost, let recorded)):
            state = .finished
            return answer(remaining: remaining, cost: cost, recorded: recorded)
        case (.settling, .clientGone):
            clientGone = true
            return []
        default:
            // An event that cannot happen in this state (a late chunk, a second end, a client
            // leaving a plain call): nothing to do.
            return []
        }
    }

    // MARK: Building and answering

    private mutating func afterBuild(_ built: Built) -> [Action] {
        switch built {
        case .failed(let message):
            return settle(.release(reason: message, status: 502), answer: .error(502, code: "provider_plugin_error", message: message))
        case .invalid(let code, let message):
            return settle(.release(reason: message, status: 400), answer: .error(400, code: code, message: message))
        case .local(let status, let contentType, let body, let prompt, let completion):
            return succeed(status: status, contentType: contentType, body: body, prompt: prompt, completion: completion)
        case .localStream:
            state = .streaming
            return Self.relayLocalStreamOnly
        case .upstream(let streaming):
            state = streaming ? .streaming : .awaitingAnswer
            return Self.sendOnly
        case .tool:
            state = .awaitingAnswer
            return Self.sendOnly
        }
    }

    private mutating func afterAnswer(_ result: UpstreamResult) -> [Action] {
        switch result {
        case .response(let status, let contentType, let body) where (200..<300).contains(status):
            state = .translating
            pendingStatus = status
            pendingContentType = contentType ?? "application/json"
            return [.translate(status: status, contentType: contentType, body: body)]
        default:
            return release(for: result)
        }
    }

    /// A provider outcome that owes nothing — an error status, no answer, a timeout, a cancel, an
    /// oversized answer — released, with the client's error answer. Plain calls and streams
    /// refused before their first byte share it.
    private mutating func release(for result: UpstreamResult) -> [Action] {
        switch result {
        case .response(let status, _, let body):
            return settle(.release(reason: "provider answered \(status)", status: status),
                          answer: Self.relay(status: status, body: body, redacting: context.apiKey))
        case .unavailable(let detail):
            return settle(.release(reason: "provider unreachable: \(detail)", status: 502),
                          answer: .error(502, code: "upstream_unavailable", message: "provider '\(context.providerName)' is unreachable: \(detail)"))
        case .timedOut:
            return settle(.release(reason: "provider timed out", status: 504),
                          answer: .error(504, code: "upstream_timeout",
                                         message: "provider '\(context.providerName)' did not answer in \(context.providerTimeoutSeconds) s"))
        case .cancelled:
            return settle(.release(reason: "cancelled", status: 499),
                          answer: .error(502, code: "upstream_unavailable", message: "the call was cancelled"))
        case .tooLarge:
            return settle(.release(reason: "provider answer too large", status: 502),
                          answer: .error(502, code: "upstream_unavailable",
                                         message: "the provider's answer exceeded \(context.upstreamResponseBytesMax) bytes"))
        }
    }

    /// A successful answer: cost from the reported usage (checked by `UsageCharge`), or the
    /// reserved bound when usage is missing.
    private mutating func succeed(status: Int, contentType: String?, body: [UInt8], prompt: Int64?, completion: Int64?) -> [Action] {
        let charge = charge(prompt: prompt, completion: completion ?? (context.embeddings ? 0 : nil))
        var recorded = charge
        if charge.estimated { recorded.completionTokens = completion }
        let contentType = contentType ?? "application/json"
        var keep: KeptAnswer?
        if let bytesMax = context.keptAnswerBytesMax, (200..<300).contains(status), body.count <= bytesMax {
            keep = KeptAnswer(status: status, contentType: contentType, body: body)
        }
        return settle(.commit(recorded, status: status, reason: nil),
                      answer: HTTPResponse(status: status, headers: [("content-type", contentType)], body: body),
                      carriesCost: true, keep: keep)
    }

    private func charge(prompt: Int64?, completion: Int64?) -> UsageCharge.Charge {
        UsageCharge.charge(pricing: context.pricing, reserved: context.reserved, promptBound: context.promptTokensBound,
                           completionBound: context.completionTokensBound, prompt: prompt, completion: completion)
    }

    private mutating func settle(_ decision: SettlementDecision, answer: HTTPResponse?, carriesCost: Bool = false,
                                 keep: KeptAnswer? = nil) -> [Action] {
        state = .settling
        settlements += 1
        slotsReleased += 1
        pendingAnswer = answer
        answerCarriesCost = carriesCost
        return [.settle(decision, keep: keep), .releaseInFlightSlot]
    }

    /// The settlement committed (or the ledger refused it): now the client may hear the end.
    private func answer(remaining: MicroUSD?, cost: MicroUSD?, recorded: Bool) -> [Action] {
        if let pendingAnswer {
            guard recorded else {
                return [.respond(.error(500, code: "ledger_unavailable", message: "the ledger could not record the settlement"))]
            }
            var headed = pendingAnswer
            headed.headers.append(("x-aex-execution-id", context.executionID))
            if answerCarriesCost, let cost {
                headed.headers.append(("x-aex-cost-micro", String(cost.value)))
                if let remaining { headed.headers.append(("x-aex-budget-remaining-micro", String(remaining.value))) }
            }
            return [.respond(headed)]
        }
        // A stream that ran: close it with what the client is owed.
        guard !clientGone else { return [] }
        var actions: [Action] = started ? [] : [.startClientStream]
        if let reason = streamEndReason {
            let event = JSONValue.object(["error": .object([
                "message": .string(reason), "type": .string("server_error"), "code": .string("upstream_stream_error"), "param": .null,
            ])])
            actions.append(.sendChunk(Array("data: \(event.canonicalText)\n\n".utf8)))
        } else if !recorded {
            actions.append(.sendChunk(Self.ledgerErrorEvent))
        }
        if sawDone || streamEndReason != nil { actions.append(.sendChunk(Self.doneEvent)) }
        actions.append(.endStream)
        return actions
    }

    // One-action lists returned often, made once (an array literal allocates each time).
    private static let buildRequestOnly: [Action] = [.buildRequest]
    private static let sendOnly: [Action] = [.send]
    private static let cancelUpstreamOnly: [Action] = [.cancelUpstream]
    private static let relayLocalStreamOnly: [Action] = [.relayLocalStream]

    /// A provider's error answer: relayed as is when OpenAI-shaped, wrapped otherwise. The
    /// provider key (and any bearer credential) is redacted from what is relayed.
    static func relay(status: Int, body: [UInt8], redacting key: String?) -> HTTPResponse {
        if case .object(let object)? = try? JSONReader.parse(body), case .object? = object["error"] {
            return HTTPResponse(status: status, headers: [("content-type", "application/json")], body: CredentialRedactor.redact(body, key: key))
        }
        return .error(status, code: "upstream_error", message: "the provider answered \(status)")
    }

    static let doneEvent = Array("data: [DONE]\n\n".utf8)

    static let ledgerErrorEvent = Array(
        #"data: {"error":{"message":"the ledger could not record the settlement","type":"server_error","code":"ledger_unavailable","param":null}}"#.utf8)
        + [0x0a, 0x0a]

    // MARK: Streams

    private mutating func relay(_ event: StreamEvent) -> [Action] {
        guard !clientGone, failure == nil, !sawDone else { return [] }  // nothing after the end marker
        producedTokensBound &+= event.textTokensBound
        if let prompt = event.promptTokens { promptTokens = prompt }
        if let completion = event.completionTokens { completionTokens = completion }
        if event.usageOnly && !context.streamUsageRequested { return [] }
        var actions: [Action] = []
        for data in event.emitted {
            if !started {
                started = true
                actions.append(.startClientStream)
            }
            var frame: [UInt8] = []  // built in one buffer: `event: NAME\n`, `data: DATA\n\n`
            frame.reserveCapacity(data.count + 8 + (event.name.map { $0.count + 8 } ?? 0))
            if let name = event.name {
                frame.append(contentsOf: "event: ".utf8)
                frame.append(contentsOf: name)
                frame.append(0x0a)
            }
            frame.append(contentsOf: "data: ".utf8)
            frame.append(contentsOf: data)
            frame.append(0x0a)
            frame.append(0x0a)
            keepStreamed(frame)
            actions.append(.sendChunk(frame))
        }
        return actions
    }

    private mutating func endStream(_ result: UpstreamResult) -> [Action] {
        switch result {
        case .response(let status, _, _) where !(200..<300).contains(status):
            // Refused before any byte streamed: relayed like any provider error, nothing owed.
            return release(for: result)
        case .unavailable where !started && failure == nil, .timedOut where !started && failure == nil:
            return release(for: result)
        default:
            break
        }
        streamEndReason = switch result {
        case .cancelled where clientGone: "client disconnected"
        case .cancelled, .response: failure
        case .unavailable(let detail): failure ?? "provider failed mid-stream: \(detail)"
        case .timedOut: failure ?? "provider went silent mid-stream"
        case .tooLarge: failure ?? "provider stream too large"
        }
        var keep: KeptAnswer?
        if streamEndReason == nil, !clientGone, var body = keptStream {
            if sawDone { body += Self.doneEvent }
            if body.count <= context.keptAnswerBytesMax ?? 0 { keep = KeptAnswer(status: 200, contentType: "text/event-stream", body: body) }
        }
        return settle(.commit(streamCharge(), status: 200, reason: streamEndReason), answer: nil, keep: keep)
    }

    /// Adds a frame sent to the client to the kept stream; past the bound, nothing is kept.
    private mutating func keepStreamed(_ frame: [UInt8]) {
        guard keptStream != nil, let bytesMax = context.keptAnswerBytesMax else { return }
        if keptStream!.count + frame.count > bytesMax {
            keptStream = nil
        } else {
            keptStream!.append(contentsOf: frame)
        }
    }

    /// The provider's usage when reported (checked by `UsageCharge`); else the prompt bound and an
    /// upper bound of what was streamed, capped at the output bound: never below what was
    /// produced, never above the reservation. A reasoning model may bill tokens it never streams,
    /// so without usage it is charged the reservation.
    private func streamCharge() -> UsageCharge.Charge {
        if promptTokens != nil, completionTokens != nil {
            return charge(prompt: promptTokens, completion: completionTokens)
        }
        var estimate = UsageCharge.Charge(cost: context.reserved, promptTokens: promptTokens, completionTokens: completionTokens,
                                          estimated: true, fault: nil)
        guard !context.reasoning else { return estimate }
        let produced = min(producedTokensBound, context.completionTokensBound)
        if let cost = try? context.pricing.cost(promptTokens: context.promptTokensBound, completionTokens: produced) {
            estimate.cost = min(cost, context.reserved)
        }
        return estimate
    }
}
