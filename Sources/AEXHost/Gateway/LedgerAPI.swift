import Dispatch

/// `GET /admin/replay`: the same verification as `aex ledger verify` (hash chain and balance
/// replay), answered as its JSON report. It reads the database on a read-only connection of its
/// own, off the event loops, one verification at a time (a flood of requests queues, it does not
/// multiply the work in parallel).
struct LedgerAPI: Sendable {
    let databasePath: String
    private let queue = DispatchQueue(label: "aex.ledger-verify")

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
        let path = databasePath
        let expectHead = expected
        queue.async {
            do {
                let db = try SQLiteDatabase(path: path, readOnly: true)
                let report = try LedgerVerifier.verify(db, expectHead: expectHead)
                responder.respond(.json(200, report.json))
            } catch {
                responder.respond(.error(500, code: "ledger_unavailable", message: "cannot read the ledger: \(error)"))
            }
        }
    }
}
