import Dispatch

/// `GET /admin/activity` (admin token, SPEC §14): the latest ledger events, newest first, as
/// `{"events": [...]}` (`?limit=N` up to `limitMax`, `?agent=NAME`, `?after_seq=N`), read off the
/// loops on a read-only connection; with `?stream=1`, the live feed (`ActivityFeed`).
struct ActivityAPI: Sendable {
    static let limitDefault: Int64 = 50
    static let limitMax: Int64 = 1_000

    let databasePath: String
    let feed: ActivityFeed
    private let queue = DispatchQueue(label: "aex.activity-read")

    init(databasePath: String) {
        self.databasePath = databasePath
        feed = ActivityFeed(databasePath: databasePath)
    }

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        guard request.method == "GET" else { return responder.respond(.error(405, code: "method_not_allowed", message: "use GET")) }
        let agent = request.queryValue("agent").flatMap { $0.isEmpty ? nil : $0 }
        var afterSeq: Int64?
        if let text = request.queryValue("after_seq") {
            guard let seq = Int64(text), seq >= 0 else { return invalid(responder, "after_seq must be a whole number") }
            afterSeq = seq
        }
        if let stream = request.queryValue("stream"), stream == "1" || stream == "true" {
            guard feed.subscribe(responder, agent: agent, afterSeq: afterSeq) else {
                return responder.respond(.error(503, code: "overloaded", message: "too many activity subscribers", headers: [("retry-after", "5")]))
            }
            return
        }
        var limit = Self.limitDefault
        if let text = request.queryValue("limit") {
            guard let value = Int64(text), value >= 1 else { return invalid(responder, "limit must be a positive whole number") }
            limit = min(value, Self.limitMax)
        }
        let path = databasePath
        let (after, count) = (afterSeq, limit)
        queue.async {
            do {
                let db = try SQLiteDatabase(path: path, readOnly: true)
                let entries = try LedgerEntries.latest(db, agentName: agent, executionID: nil, afterSeq: after, limit: count)
                responder.respond(.json(200, .object(["events": .array(entries.reversed().map(Self.json))])))
            } catch {
                responder.respond(.error(500, code: "ledger_unavailable", message: "cannot read the ledger: \(error)"))
            }
        }
    }

    /// One event as the activity API shows it.
    static func json(_ entry: LedgerEntries.Entry) -> JSONValue {
        .object([
            "seq": .int(entry.seq), "ts": .string(WallClock.iso8601(micros: entry.timestampMicros, fractional: true)),
            "type": .string(entry.type), "agent": .optional(entry.agentName), "execution_id": .optional(entry.executionID),
            "payload": (try? JSONReader.parse(Array(entry.payload.utf8))) ?? .string(entry.payload),
        ])
    }

    private func invalid(_ responder: HTTPResponder, _ message: String) {
        responder.respond(.error(400, code: "invalid_request", message: message))
    }
}
