import Dispatch
import Synchronization

/// `GET /admin/replay`: the same verification as `aex ledger verify` (hash chain and balance
/// replay), answered as its JSON report. It reads the database on a read-only connection of its
/// own, off the event loops, one verification at a time: a flood of requests does not multiply
/// the work in parallel, and beyond `verificationsWaitingMax` waiting ones it is answered 503
/// `overloaded` with `Retry-After` instead of queueing without bound.
final class LedgerAPI: Sendable {
    static let verificationsWaitingMax = 4
    let databasePath: String
    private let queue = DispatchQueue(label: "aex.ledger-verify")
    /// Verifications running or waiting.
    private let admitted = Atomic<Int>(0)

    init(databasePath: String) {
        self.databasePath = databasePath
    }

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        guard request.method == "GET" else {
            return responder.respond(.error(405, code: "method_not_allowed", message: "use GET"))
        }
        var expected: EventLog.Head?
        if let text = request.queryValue("expect_head") {
            guard let head = LedgerVerifier.parseHead(text) else {
                return responder.respond(.error(400, code: "invalid_request", message: "expect_head takes SEQ:HASH"))
            }
            expected = head
        }
        guard admitted.add(1, ordering: .relaxed).newValue <= 1 + Self.verificationsWaitingMax else {
            admitted.subtract(1, ordering: .relaxed)
            return responder.respond(.error(503, code: "overloaded", message: "too many ledger verifications waiting; retry later",
                                            headers: [("retry-after", "1")]))
        }
        let path = databasePath
        let expectHead = expected
        queue.async { [self] in
            defer { admitted.subtract(1, ordering: .relaxed) }
            do {
                let report = try LedgerVerifier.verify(databaseAt: path, expectHead: expectHead)
                responder.respond(.json(200, report.json))
            } catch {
                responder.respond(.error(500, code: "ledger_unavailable", message: "cannot read the ledger: \(error)"))
            }
        }
    }
}
