/// The payloads of the ledger events that move money — reservation, commit, release, recovery —
/// typed, with their one encoder (canonical JSON, built on the loops and hashed by the writer) and
/// their one decoder (the balance replay of `aex ledger verify`). The keys live here only.
enum MoneyEventPayload: Equatable {
    case reservation(Reservation)
    case commit(Commit)
    case release(Release)
    case recovery(Recovery)

    struct Reservation: Equatable {
        var amount: MicroUSD
        var completionTokensBound: Int64
        var endpoint: String
        var model: String
        var promptTokensBound: Int64
        /// The `aex run` whose token made the call; nil for the agent's own token.
        var runID: String? = nil
    }

    struct Commit: Equatable {
        var completionTokens: Int64?
        var cost: MicroUSD
        var estimated: Bool
        var promptTokens: Int64?
        var fault: ExecutionLedger.ProviderFault?
        /// Why the call ended early (client gone, stream cut); nil otherwise.
        var reason: String?
        var reserved: MicroUSD
        /// SHA-256 (hex) of the answer stored for an `Idempotency-Key` (SPEC §8); nil when none was.
        var responseSHA256: String?
    }

    struct Release: Equatable {
        var reason: String
        var released: MicroUSD
        var status: Int64
    }

    struct Recovery: Equatable {
        var amount: MicroUSD
        /// Dispatched reservations are charged (the provider may have billed); others released.
        var charged: Bool
        var reason: String
    }

    /// What the payload does to its agent's counters.
    var balanceChange: BalanceChange {
        switch self {
        case .reservation(let r): .reservation(r.amount)
        case .commit(let c): .settlement(reserved: c.reserved, cost: c.cost)
        case .release(let r): .settlement(reserved: r.released, cost: .zero)
        case .recovery(let r): .settlement(reserved: r.amount, cost: r.charged ? r.amount : .zero)
        }
    }

    // MARK: The encoder (keys in canonical order)

    func encoded() -> [UInt8] {
        var payload = CanonicalJSONObject()
        switch self {
        case .reservation(let r):
            payload.int("amount_micro", r.amount.value)
            payload.int("completion_tokens_bound", r.completionTokensBound)
            payload.string("endpoint", r.endpoint)
            payload.string("model", r.model)
            payload.int("prompt_tokens_bound", r.promptTokensBound)
            if let runID = r.runID { payload.string("run_id", runID) }
        case .commit(let c):
            // What was released (reserved − cost) and any overdraft (cost − reserved) follow from
            // these two amounts; they are not repeated.
            payload.int("completion_tokens", c.completionTokens)
            payload.int("cost_micro", c.cost.value)
            if c.estimated { payload.bool("estimated", true) }
            payload.int("prompt_tokens", c.promptTokens)
            if let fault = c.fault { payload.string("provider_fault", fault.reason) }
            if let reason = c.reason { payload.string("reason", reason) }
            if let fault = c.fault {
                payload.int("reported_completion_tokens", fault.reportedCompletionTokens)
                payload.int("reported_prompt_tokens", fault.reportedPromptTokens)
            }
            payload.int("reserved_micro", c.reserved.value)
            if let digest = c.responseSHA256 { payload.string("response_sha256", digest) }
        case .release(let r):
            payload.string("reason", r.reason)
            payload.int("released_micro", r.released.value)
            payload.int("status", r.status)
        case .recovery(let r):
            payload.int("amount_micro", r.amount.value)
            payload.string("decision", r.charged ? "charged" : "released")
            payload.string("reason", r.reason)
        }
        return payload.finish()
    }

    // MARK: The decoder

    struct Malformed: Error, Equatable {
        let reason: String
    }

    /// The payload of a `type` event, or nil when events of that type move no money.
    static func decode(type: LedgerEventType, _ text: [UInt8]) throws(Malformed) -> MoneyEventPayload? {
        switch type {
        case .reservation, .commit, .release, .recovery: break
        default: return nil
        }
        guard let tape = try? JSONTape.parse(text), tape.kind(JSONTape.root) == .object else {
            throw Malformed(reason: "a \(type.rawValue) event whose payload is not a JSON object")
        }
        let reader = Reader(tape: tape, type: type)
        switch type {
        case .reservation:
            return .reservation(Reservation(
                amount: try reader.money("amount_micro"), completionTokensBound: reader.int("completion_tokens_bound") ?? 0,
                endpoint: reader.string("endpoint") ?? "", model: reader.string("model") ?? "",
                promptTokensBound: reader.int("prompt_tokens_bound") ?? 0, runID: reader.string("run_id")))
        case .commit:
            var fault: ExecutionLedger.ProviderFault?
            if let reason = reader.string("provider_fault") {
                // A reason this version does not know is kept as the general one.
                fault = .init(kind: .init(rawValue: reason) ?? .aboveAllowed, reportedPromptTokens: reader.int("reported_prompt_tokens") ?? 0,
                              reportedCompletionTokens: reader.int("reported_completion_tokens") ?? 0)
            }
            return .commit(Commit(
                completionTokens: reader.int("completion_tokens"), cost: try reader.money("cost_micro"), estimated: reader.isTrue("estimated"),
                promptTokens: reader.int("prompt_tokens"), fault: fault, reason: reader.string("reason"), reserved: try reader.money("reserved_micro"),
                responseSHA256: reader.string("response_sha256")))
        case .release:
            return .release(Release(reason: reader.string("reason") ?? "", released: try reader.money("released_micro"),
                                    status: reader.int("status") ?? 0))
        default:
            let amount = try reader.money("amount_micro")
            let decision = reader.string("decision")
            guard decision == "charged" || decision == "released" else {
                throw Malformed(reason: "a recovery event without a decision")
            }
            return .recovery(Recovery(amount: amount, charged: decision == "charged", reason: reader.string("reason") ?? ""))
        }
    }

    private struct Reader {
        let tape: JSONTape
        let type: LedgerEventType

        func money(_ key: StaticString) throws(Malformed) -> MicroUSD {
            guard let node = tape.member(JSONTape.root, key), let value = tape.int(node), value >= 0 else {
                throw Malformed(reason: "a \(type.rawValue) event without a whole non-negative '\(key)'")
            }
            return MicroUSD(value)
        }

        func int(_ key: StaticString) -> Int64? { tape.member(JSONTape.root, key).flatMap { tape.int($0) } }

        func string(_ key: StaticString) -> String? {
            guard let node = tape.member(JSONTape.root, key), tape.kind(node) == .string else { return nil }
            return tape.string(node)
        }

        func isTrue(_ key: StaticString) -> Bool { tape.member(JSONTape.root, key).map { tape.kind($0) == .true } ?? false }
    }
}
