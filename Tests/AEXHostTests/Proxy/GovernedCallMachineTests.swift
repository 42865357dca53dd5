import Foundation
import Testing
@testable import AEXHost

/// The governed call as a pure state machine, without sockets: the paths a call takes, every event
/// in every state, and seeded random event sequences. After each event: at most one settlement, no
/// answer (or end of stream) before the settlement commits, the in-flight slot given back at most
/// once; at the end of a run that reaches its settlement, exactly one settlement (or a withdrawal)
/// and the slot given back.
@Suite struct GovernedCallMachineTests {
    static let context = GovernedCallMachine.Context(
        executionID: "exec_1", providerName: "up", providerTimeoutSeconds: 2, upstreamResponseBytesMax: 1_000,
        pricing: ModelPricing(inputMicroPerMillionTokens: 2_000_000, outputMicroPerMillionTokens: 3_000_000), reasoning: false,
        reserved: MicroUSD(2 * 17 + 3 * 100), promptTokensBound: 17, completionTokensBound: 100, embeddings: false,
        streamUsageRequested: false, apiKey: "sk-secret-0123456789")

    /// What the client saw and what the ledger was asked, from a run of actions.
    struct Log {
        var settlements: [GovernedCallMachine.SettlementDecision] = []
        /// The answers kept with the settlements (for an `Idempotency-Key`).
        var kept: [GovernedCallMachine.KeptAnswer] = []
        /// Every stream byte sent to the client, in order.
        var streamBytes: [UInt8] = []
        var answers: [HTTPResponse] = []
        var chunks: [String] = []
        var streamStarted = 0
        var streamEnded = 0
        var slotsReleased = 0
        var withdrawals = 0
        var builds = 0
        var sends = 0
        var cancels = 0
        var translations = 0
        var settlementCommitted = false

        mutating func take(_ actions: [GovernedCallMachine.Action]) {
            for action in actions {
                switch action {
                case .settle(let decision, let keep):
                    settlements.append(decision)
                    if let keep {
                        guard case .commit = decision else { Issue.record("an answer kept with a release"); break }
                        kept.append(keep)
                    }
                case .respond(let response):
                    #expect(settlementCommitted || withdrawals > 0, "an answer before its settlement committed")
                    answers.append(response)
                case .sendChunk(let bytes):
                    #expect(streamStarted == 1, "a chunk before the stream's head")
                    chunks.append(String(decoding: bytes, as: UTF8.self))
                    streamBytes += bytes
                case .startClientStream: streamStarted += 1
                case .endStream:
                    #expect(settlementCommitted, "a stream ended before its settlement committed")
                    streamEnded += 1
                case .releaseInFlightSlot: slotsReleased += 1
                case .withdrawAdmission: withdrawals += 1
                case .buildRequest: builds += 1
                case .send, .relayLocalStream: sends += 1
                case .cancelUpstream: cancels += 1
                case .translate: translations += 1
                }
            }
        }
    }

    func run(_ events: [GovernedCallMachine.Event], context: GovernedCallMachine.Context = Self.context) -> (GovernedCallMachine, Log) {
        var machine = GovernedCallMachine(context)
        var log = Log()
        for event in events {
            if case .settlementCommitted = event, machine.state == .settling { log.settlementCommitted = true }
            log.take(machine.handle(event))
            #expect(log.settlements.count <= 1 && log.slotsReleased <= 1)
        }
        return (machine, log)
    }

    func streamEvent(_ text: String, prompt: Int64? = nil, completion: Int64? = nil, usageOnly: Bool = false) -> GovernedCallMachine.Event {
        .streamEvent(.init(name: nil, emitted: usageOnly ? [Array(#"{"usage":{}}"#.utf8)] : [Array(text.utf8)], promptTokens: prompt,
                           completionTokens: completion, usageOnly: usageOnly, textTokensBound: Int64(text.utf8.count) + 1))
    }

    static let committed = GovernedCallMachine.Event.settlementCommitted(remaining: MicroUSD(1_000), cost: MicroUSD(35), recorded: true)

    // MARK: Paths

    @Test func aPlainCallIsChargedItsUsageAndAnsweredAfterItsSettlement() throws {
        let (machine, log) = run([
            .reservationCommitted, .built(.upstream(streaming: false)),
            .answered(.response(status: 200, contentType: "application/json", body: Array("{}".utf8))),
            .translated(body: Array("{\"ok\":1}".utf8), prompt: 10, completion: 5), Self.committed,
        ])
        #expect(machine.state == .finished)
        #expect(log.builds == 1 && log.sends == 1 && log.translations == 1 && log.slotsReleased == 1)
        guard case .commit(let charge, let status, nil)? = log.settlements.first else { Issue.record("\(log.settlements)"); return }
        #expect(charge.cost == MicroUSD(35) && !charge.estimated && status == 200)
        let answer = try #require(log.answers.first)
        #expect(answer.status == 200 && String(decoding: answer.body, as: UTF8.self) == "{\"ok\":1}")
        let headers = Dictionary(uniqueKeysWithValues: answer.headers.map { ($0.name, $0.value) })
        #expect(headers["x-aex-cost-micro"] == "35" && headers["x-aex-budget-remaining-micro"] == "1000" && headers["x-aex-execution-id"] == "exec_1")
    }

    @Test func upstreamFailuresReleaseAndRelayWithoutTheKey() throws {
        let outcomes: [(UpstreamResult, Int)] = [
            (.response(status: 429, contentType: "application/json", body: Array(#"{"error":{"message":"key sk-secret-0123456789"}}"#.utf8)), 429),
            (.unavailable("refused"), 502), (.timedOut, 504), (.cancelled, 502), (.tooLarge, 502),
        ]
        for (result, status) in outcomes {
            let (_, log) = run([.reservationCommitted, .built(.upstream(streaming: false)), .answered(result), Self.committed])
            guard case .release? = log.settlements.first else { Issue.record("\(result): \(log.settlements)"); continue }
            let answer = try #require(log.answers.first)
            #expect(answer.status == status)
            #expect(!String(decoding: answer.body, as: UTF8.self).contains("sk-secret"))
            #expect(!answer.headers.contains { $0.name == "x-aex-cost-micro" })
        }
    }

    @Test func aRefusedReservationIsWithdrawnNotSettled() {
        let (machine, log) = run([.reservationRefused, .reservationCommitted, Self.committed])
        #expect(machine.state == .finished && log.withdrawals == 1 && log.settlements.isEmpty && log.slotsReleased == 1)
        #expect(log.answers.first?.status == 500 && log.builds == 0)
    }

    @Test func aSettlementTheLedgerRefusedIsA500() {
        let (_, log) = run([.reservationCommitted, .built(.local(status: 200, contentType: nil, body: [], prompt: 1, completion: 1)),
                            .settlementCommitted(remaining: nil, cost: MicroUSD(5), recorded: false)])
        #expect(log.answers.first?.status == 500)
    }

    @Test func aStreamRelaysHidesTheUsageChunkAndEndsAfterItsSettlement() {
        let (_, log) = run([
            .reservationCommitted, .built(.upstream(streaming: true)), streamEvent("a"), streamEvent("b"),
            streamEvent("", prompt: 10, completion: 5, usageOnly: true), .streamDone,
            .streamEnded(.response(status: 200, contentType: "text/event-stream", body: [])), Self.committed,
        ])
        #expect(log.chunks == ["data: a\n\n", "data: b\n\n", "data: [DONE]\n\n"])
        #expect(log.streamStarted == 1 && log.streamEnded == 1)
        guard case .commit(let charge, _, nil)? = log.settlements.first else { Issue.record("\(log.settlements)"); return }
        #expect(charge.cost == MicroUSD(35) && !charge.estimated)
    }

    @Test func nothingIsRelayedAfterTheEndMarker() {
        let (_, log) = run([
            .reservationCommitted, .built(.upstream(streaming: true)), streamEvent("a"), .streamDone, streamEvent("late"),
            .streamEnded(.response(status: 200, contentType: "text/event-stream", body: [])), Self.committed,
        ])
        #expect(log.chunks == ["data: a\n\n", "data: [DONE]\n\n"])
    }

    @Test func aRequestThePluginFindsImpossibleIsAReleased400() {
        let (machine, log) = run([.reservationCommitted, .built(.invalid(code: "unsupported_parameter", message: "'n' must be 1")), Self.committed])
        guard case .release(let reason, let status)? = log.settlements.first else { Issue.record("\(log.settlements)"); return }
        #expect(reason == "'n' must be 1" && status == 400)
        #expect(log.answers.first?.status == 400 && log.sends == 0 && machine.state == .finished)
        let body = String(decoding: log.answers.first?.body ?? [], as: UTF8.self)
        #expect(body.contains("'n' must be 1"))
    }

    @Test func aClientLeavingMidStreamPaysTheBoundOfWhatWasStreamed() {
        let (_, log) = run([
            .reservationCommitted, .built(.upstream(streaming: true)), streamEvent("hello"), .clientGone, streamEvent("more"),
            .streamEnded(.cancelled), Self.committed,
        ])
        #expect(log.cancels == 1 && log.streamEnded == 0, "the provider stopped; nobody left to end the stream for")
        guard case .commit(let charge, _, let reason)? = log.settlements.first else { Issue.record("\(log.settlements)"); return }
        #expect(reason == "client disconnected" && charge.estimated)
        #expect(charge.cost == MicroUSD(2 * 17 + 3 * 6), "the prompt bound and \"hello\" + 1, not the reservation")
    }

    @Test func aMalformedEventStopsTheProviderAndEndsWithAnErrorEvent() {
        let (_, log) = run([
            .reservationCommitted, .built(.upstream(streaming: true)), streamEvent("a"), .streamFailed(message: "bad event"), streamEvent("b"),
            .streamEnded(.cancelled), Self.committed,
        ])
        #expect(log.cancels == 1)
        #expect(log.chunks.count == 3 && log.chunks[1].contains("bad event") && log.chunks[2] == "data: [DONE]\n\n")
    }

    @Test func aStreamRefusedBeforeItsFirstByteIsAnAnswerNotAStream() {
        let (_, log) = run([.reservationCommitted, .built(.upstream(streaming: true)), .streamEnded(.unavailable("refused")), Self.committed])
        #expect(log.streamStarted == 0 && log.answers.first?.status == 502)
        guard case .release? = log.settlements.first else { Issue.record("\(log.settlements)"); return }
    }

    @Test func aProviderFailingMidStreamIsChargedWhatWasStreamedNotReleased() {
        for failure in [UpstreamResult.unavailable("reset"), .timedOut] {
            let (_, log) = run([.reservationCommitted, .built(.upstream(streaming: true)), streamEvent("abc"), .streamEnded(failure), Self.committed])
            guard case .commit(let charge, _, let reason?)? = log.settlements.first else { Issue.record("\(failure): \(log.settlements)"); continue }
            #expect(charge.estimated && charge.cost == MicroUSD(2 * 17 + 3 * 4), "\(reason)")
            #expect(log.streamEnded == 1 && log.answers.isEmpty, "the stream is ended with an error event, not answered")
        }
    }

    @Test func aReasoningModelWithoutUsageIsChargedItsReservation() {
        var context = Self.context
        context.reasoning = true
        let (_, log) = run([.reservationCommitted, .built(.localStream), streamEvent("x"), .streamEnded(.cancelled), Self.committed],
                           context: context)
        guard case .commit(let charge, _, _)? = log.settlements.first else { Issue.record("\(log.settlements)"); return }
        #expect(charge.cost == context.reserved && charge.estimated)
    }

    // MARK: Answers kept for an Idempotency-Key

    static let keyed: GovernedCallMachine.Context = {
        var context = Self.context
        context.keptAnswerBytesMax = 4_096
        return context
    }()

    @Test func aKeyedSuccessKeepsItsAnswerAsTheClientGetsIt() {
        let (_, log) = run([
            .reservationCommitted, .built(.upstream(streaming: false)),
            .answered(.response(status: 200, contentType: "application/json", body: Array("{}".utf8))),
            .translated(body: Array(#"{"id":"x"}"#.utf8), prompt: 10, completion: 5), Self.committed,
        ], context: Self.keyed)
        #expect(log.kept == [.init(status: 200, contentType: "application/json", body: Array(#"{"id":"x"}"#.utf8))])
        #expect(log.answers.first?.body == log.kept.first?.body)
    }

    @Test func aCallWithoutAKeyKeepsNothing() {
        let (_, log) = run([.reservationCommitted, .built(.local(status: 200, contentType: nil, body: [1], prompt: 1, completion: 1)), Self.committed])
        #expect(log.settlements.count == 1 && log.kept.isEmpty)
    }

    @Test func failuresAndOversizedAnswersAreNotKept() {
        let big = [UInt8](repeating: 0x61, count: 4_097)
        let runs: [[GovernedCallMachine.Event]] = [
            [.reservationCommitted, .built(.upstream(streaming: false)), .answered(.response(status: 500, contentType: nil, body: []))],
            [.reservationCommitted, .built(.upstream(streaming: false)), .answered(.response(status: 200, contentType: nil, body: [])),
             .translationFailed(message: "x")],
            [.reservationCommitted, .built(.local(status: 404, contentType: nil, body: [1], prompt: 1, completion: 1))],
            [.reservationCommitted, .built(.failed(message: "x"))],
            [.reservationCommitted, .built(.upstream(streaming: false)), .answered(.timedOut)],
            [.reservationCommitted, .built(.local(status: 200, contentType: nil, body: big, prompt: 1, completion: 1))],
        ]
        for events in runs {
            let (_, log) = run(events + [Self.committed], context: Self.keyed)
            #expect(log.settlements.count == 1 && log.kept.isEmpty, "\(events)")
        }
    }

    @Test func aKeyedStreamKeepsExactlyTheBytesItsClientWasSent() {
        let (_, log) = run([
            .reservationCommitted, .built(.upstream(streaming: true)), streamEvent("a"),
            .streamEvent(.init(name: Array("delta".utf8), emitted: [Array("b".utf8), Array("c".utf8)], promptTokens: nil,
                               completionTokens: nil, usageOnly: false, textTokensBound: 2)),
            streamEvent("", prompt: 10, completion: 5, usageOnly: true), .streamDone,
            .streamEnded(.response(status: 200, contentType: "text/event-stream", body: [])), Self.committed,
        ], context: Self.keyed)
        #expect(log.kept.count == 1 && log.kept.first?.contentType == "text/event-stream")
        #expect(log.kept.first?.body == log.streamBytes, "the kept stream is what the client received, [DONE] included")
        #expect(log.streamBytes.count > 0 && log.streamEnded == 1)
    }

    @Test func aStreamThatDidNotEndWellOrOutgrewTheBoundKeepsNothing() {
        let big = String(repeating: "x", count: 5_000)
        let runs: [[GovernedCallMachine.Event]] = [
            [.reservationCommitted, .built(.upstream(streaming: true)), streamEvent("a"), .clientGone, .streamEnded(.cancelled)],
            [.reservationCommitted, .built(.upstream(streaming: true)), streamEvent("a"), .streamFailed(message: "bad"), .streamEnded(.cancelled)],
            [.reservationCommitted, .built(.upstream(streaming: true)), streamEvent("a"), .streamEnded(.unavailable("reset"))],
            [.reservationCommitted, .built(.upstream(streaming: true)), streamEvent("a"), .streamEnded(.timedOut)],
            [.reservationCommitted, .built(.upstream(streaming: true)), streamEvent(big), .streamDone,
             .streamEnded(.response(status: 200, contentType: nil, body: []))],
        ]
        for events in runs {
            let (_, log) = run(events + [Self.committed], context: Self.keyed)
            #expect(log.settlements.count == 1 && log.kept.isEmpty, "\(events)")
        }
    }

    // MARK: Tool calls

    @Test func aToolCallIsChargedWhatItReportsNeverAboveItsPrice() {
        for (reported, charged) in [(MicroUSD(3), MicroUSD(3)), (MicroUSD(5_000), Self.context.reserved)] {
            let (_, log) = run([.reservationCommitted, .built(.tool), .toolAnswered(body: Array(#"{"result":1}"#.utf8), cost: reported),
                                Self.committed], context: Self.keyed)
            guard case .commit(let charge, 200, nil)? = log.settlements.first else { Issue.record("\(log.settlements)"); return }
            #expect(charge.cost == charged && !charge.estimated)
            #expect(log.sends == 1 && log.answers.first?.status == 200 && log.kept.first?.body == Array(#"{"result":1}"#.utf8))
        }
    }

    @Test func aFailedToolCallIsReleasedAndAnsweredWithItsError() {
        let (_, log) = run([.reservationCommitted, .built(.tool), .toolFailed(status: 504, code: "tool_timeout", message: "too slow"),
                            Self.committed], context: Self.keyed)
        guard case .release(let reason, 504)? = log.settlements.first else { Issue.record("\(log.settlements)"); return }
        #expect(reason == "too slow" && log.answers.first?.status == 504 && log.kept.isEmpty)
    }

    // MARK: Every event in every state

    static func allEvents() -> [GovernedCallMachine.Event] {
        [
            .reservationCommitted, .reservationRefused,
            .built(.upstream(streaming: false)), .built(.upstream(streaming: true)), .built(.localStream), .built(.failed(message: "x")), .built(.invalid(code: "unsupported_endpoint", message: "x")),
            .built(.local(status: 200, contentType: nil, body: [], prompt: 1, completion: 2)),
            .egressUnavailable(detail: "x"),
            .answered(.response(status: 200, contentType: nil, body: [])), .answered(.response(status: 500, contentType: nil, body: [])),
            .answered(.unavailable("x")), .answered(.timedOut), .answered(.cancelled), .answered(.tooLarge),
            .translated(body: [], prompt: 1, completion: 1), .translated(body: [], prompt: nil, completion: nil),
            .translationFailed(message: "x"),
            .streamEvent(.init(name: nil, emitted: [[0x61]], promptTokens: nil, completionTokens: nil, usageOnly: false, textTokensBound: 2)),
            .streamEvent(.init(name: Array("e".utf8), emitted: [], promptTokens: 3, completionTokens: 4, usageOnly: true, textTokensBound: 0)),
            .streamDone, .streamFailed(message: "x"),
            .streamEnded(.response(status: 200, contentType: nil, body: [])), .streamEnded(.response(status: 400, contentType: nil, body: [])),
            .streamEnded(.unavailable("x")), .streamEnded(.timedOut), .streamEnded(.cancelled), .streamEnded(.tooLarge),
            .clientGone, .built(.tool), .toolAnswered(body: Array("{}".utf8), cost: MicroUSD(3)),
            .toolFailed(status: 504, code: "tool_timeout", message: "x"),
            .settlementCommitted(remaining: MicroUSD(1), cost: MicroUSD(1), recorded: true),
            .settlementCommitted(remaining: nil, cost: nil, recorded: false),
        ]
    }

    /// Prefixes that bring a machine into each state.
    static let paths: [(GovernedCallMachine.State, [GovernedCallMachine.Event])] = [
        (.reserving, []),
        (.building, [.reservationCommitted]),
        (.awaitingAnswer, [.reservationCommitted, .built(.upstream(streaming: false))]),
        (.translating, [.reservationCommitted, .built(.upstream(streaming: false)), .answered(.response(status: 200, contentType: nil, body: []))]),
        (.streaming, [.reservationCommitted, .built(.upstream(streaming: true))]),
        (.settling, [.reservationCommitted, .built(.failed(message: "x"))]),
        (.finished, [.reservationRefused]),
    ]

    @Test func everyEventInEveryStateKeepsTheInvariants() {
        for (state, prefix) in Self.paths {
            for event in Self.allEvents() {
                var machine = GovernedCallMachine(Self.context)
                var log = Log()
                for step in prefix { log.take(machine.handle(step)) }
                #expect(machine.state == state)
                let before = (machine.settlements, machine.slotsReleased)
                if case .settlementCommitted = event, machine.state == .settling { log.settlementCommitted = true }
                log.take(machine.handle(event))
                #expect(log.settlements.count <= 1 && log.slotsReleased <= 1, "\(state) + \(event)")
                if state == .finished { #expect((machine.settlements, machine.slotsReleased) == before, "finished ignores \(event)") }
                // Whatever happened, driving the call to its end settles it exactly once.
                drainToEnd(&machine, &log)
                #expect(machine.state == .finished, "\(state) + \(event) ends")
                #expect(log.settlements.count + log.withdrawals == 1 && log.slotsReleased == 1, "\(state) + \(event)")
            }
        }
    }

    @Test func seededRandomSequencesKeepTheInvariants() {
        let seed = ProcessInfo.processInfo.environment["AEX_PROPERTY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("GovernedCallMachineTests seed \(seed) (AEX_PROPERTY_SEED to repeat)")
        var random = SeededGenerator(seed: seed)
        let events = Self.allEvents()
        for round in 0..<5_000 {
            var machine = GovernedCallMachine(round % 2 == 0 ? Self.context : Self.keyed)
            var log = Log()
            for _ in 0..<Int.random(in: 1...12, using: &random) {
                let event = events.randomElement(using: &random)!
                if case .settlementCommitted = event, machine.state == .settling { log.settlementCommitted = true }
                log.take(machine.handle(event))
                #expect(log.settlements.count <= 1 && log.slotsReleased <= 1 && log.answers.count <= 1 && log.streamEnded <= 1)
            }
            drainToEnd(&machine, &log)
            #expect(log.settlements.count + log.withdrawals == 1 && log.slotsReleased == 1)
            #expect(log.answers.count + log.streamEnded <= 1, "one answer at most")
        }
    }

    /// Feeds the events that end a call from wherever it is.
    func drainToEnd(_ machine: inout GovernedCallMachine, _ log: inout Log) {
        for _ in 0..<8 where machine.state != .finished {
            let event: GovernedCallMachine.Event = switch machine.state {
            case .reserving: .reservationCommitted
            case .building: .built(.failed(message: "end"))
            case .awaitingAnswer: .answered(.timedOut)
            case .translating: .translationFailed(message: "end")
            case .streaming: .streamEnded(.cancelled)
            case .settling: .settlementCommitted(remaining: nil, cost: nil, recorded: true)
            case .finished: .clientGone
            }
            if case .settlementCommitted = event { log.settlementCommitted = true }
            log.take(machine.handle(event))
        }
    }
}
