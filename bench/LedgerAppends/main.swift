// aex-ledger-bench: the ledger writer's own capacity, without HTTP or providers. For each
// durability setting, a fresh database and one agent; CALLS_IN_FLIGHT calls are kept going, each a
// reservation then a commit through the store writer exactly as the proxy submits them (payloads
// built outside the writer, group commit, a savepoint per operation, two hash-chained events per
// call). Prints calls/s and ledger appends/s per setting, then verifies each ledger.
//   aex-ledger-bench DIRECTORY [SECONDS] [CALLS_IN_FLIGHT]
import AEXHost
import Foundation
import Synchronization

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: aex-ledger-bench DIRECTORY [SECONDS] [CALLS_IN_FLIGHT]\n".utf8))
    exit(2)
}
let directory = arguments[1]
let seconds = arguments.count > 2 ? Double(arguments[2]) ?? 5 : 5
let inFlight = arguments.count > 3 ? Int(arguments[3]) ?? 50 : 50

final class Run: Sendable {
    let writer: StoreWriter
    let agent: Agent
    let stopAt: Double
    let calls = Atomic<Int>(0)
    let failures = Atomic<Int>(0)
    let next = Atomic<Int>(0)
    let finished = DispatchSemaphore(value: 0)

    init(writer: StoreWriter, agent: Agent, stopAt: Double) {
        self.writer = writer
        self.agent = agent
        self.stopAt = stopAt
    }

    /// One call: reserve, then (once durable) commit, then the next call, until time is up.
    func call() {
        guard Date().timeIntervalSince1970 < stopAt else {
            finished.signal()
            return
        }
        let number = next.add(1, ordering: .relaxed).newValue
        let reservation = ExecutionLedger.Reservation(
            executionID: "exec_" + String(number, radix: 16), agentID: agent.id, agentName: agent.name, endpoint: "chat/completions",
            model: "bench-model", amount: MicroUSD(274), promptTokensBound: 250, completionTokensBound: 12)
        let reservePayload = ExecutionLedger.reservationPayload(reservation)
        writer.submit({ db in
            try ExecutionLedger.reserve(reservation, payload: reservePayload, db, nowMicros: WallClock.nowMicros())
        }) { [self] result in
            guard case .success = result else {
                failures.add(1, ordering: .relaxed)
                return call()
            }
            let outcome = ExecutionLedger.Outcome.committed(cost: MicroUSD(274), promptTokens: 250, completionTokens: 12, estimated: false, status: 200)
            let commitPayload = ExecutionLedger.settlementPayload(reservation, outcome)
            writer.submit({ db in
                try ExecutionLedger.settle(reservation, outcome, payload: commitPayload, db, nowMicros: WallClock.nowMicros())
            }) { [self] result in
                if case .success = result { calls.add(1, ordering: .relaxed) } else { failures.add(1, ordering: .relaxed) }
                call()
            }
        }
    }
}

var results: [(Durability, Double)] = []
for durability in [Durability.full, .normal] {
    let path = "\(directory)/ledger-\(durability.rawValue).db"
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    let writer = try StoreWriter(path: path, durability: durability)
    let service = AgentService(writer: writer, registry: try AgentService.loadRegistry(writer))
    var settings = AgentSettings()
    settings.budget = MicroUSD(9_000_000_000_000)
    settings.rpm = 100_000_000
    let agent = try service.executeAndWait(.create(name: "bench", settings: settings)).get().agent
    let started = Date().timeIntervalSince1970
    let run = Run(writer: writer, agent: agent, stopAt: started + seconds)
    for _ in 0..<inFlight { run.call() }
    for _ in 0..<inFlight { run.finished.wait() }
    let elapsed = Date().timeIntervalSince1970 - started
    writer.stop()
    let calls = run.calls.load(ordering: .relaxed)
    let report = try LedgerVerifier.verify(SQLiteDatabase(path: path, readOnly: true))
    let rate = Double(calls) / elapsed
    results.append((durability, rate))
    print(String(format: "ledger writer, synchronous=%@: %.0f calls/s = %.0f ledger appends/s (%d calls in %.1f s, %d calls in flight, %d failures); %@",
                 durability.rawValue.uppercased(), rate, rate * 2, calls, elapsed, inFlight, run.failures.load(ordering: .relaxed),
                 report.ok ? "ledger verified (\(report.events) events)" : "LEDGER DID NOT VERIFY: \(report.problems)"))
    guard report.ok else { exit(1) }
}
if let full = results.first?.1, let normal = results.last?.1, normal > 0 {
    print(String(format: "ledger writer: synchronous=FULL runs at %.2f× the speed of NORMAL", full / normal))
}
