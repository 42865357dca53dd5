/// The workers of one tool plugin on one event loop, spawned on demand up to `workersMax`; a call
/// that finds them all busy waits in a bounded queue (503 `overloaded` beyond it). A worker that
/// died is replaced by the next call that needs one. Loop-confined.
final class ToolWorkerPool {
    /// Calls waiting for a worker of one plugin on one loop, at most.
    static let waitingMax = 1_024

    struct Call {
        var request: [UInt8]
        var timeoutMilliseconds: Int
        var answerBytesMax: Int
        var completion: (ToolWorker.Outcome) -> Void
    }

    let launch: ToolWorker.Launch
    let workersMax: Int
    private let loop: EventLoop
    private var idle: [ToolWorker] = []
    private var running = 0
    private var waiting: [Call] = []
    /// The plugin was disabled, removed or replaced: idle workers are gone, busy ones end after
    /// their call, and no call is taken any more.
    private(set) var retired = false

    init(launch: ToolWorker.Launch, workersMax: Int, loop: EventLoop) {
        self.launch = launch
        self.workersMax = max(1, workersMax)
        self.loop = loop
    }

    /// Runs `call` on a free worker, a new one, or after one frees up; false when the queue is full.
    func submit(_ call: Call) -> Bool {
        while let worker = idle.popLast() {
            guard worker.alive else { continue }
            start(call, on: worker)
            return true
        }
        if running + idle.count < workersMax {
            do {
                let worker = try ToolWorker.start(launch, on: loop)
                start(call, on: worker)
            } catch {
                call.completion(.failed("no tool worker could be started: \(error)"))
            }
            return true
        }
        guard waiting.count < Self.waitingMax else { return false }
        waiting.append(call)
        return true
    }

    private func start(_ call: Call, on worker: ToolWorker) {
        running += 1
        worker.run(call.request, timeoutMilliseconds: call.timeoutMilliseconds, answerBytesMax: call.answerBytesMax) { [weak self, worker] outcome in
            guard let self else { return call.completion(outcome) }
            running -= 1
            call.completion(outcome)
            if worker.alive { retired ? worker.kill(reason: nil) : idle.append(worker) }
            if !waiting.isEmpty {
                let next = waiting.removeFirst()
                _ = submit(next)
            }
        }
    }

    /// Retires the pool (its plugin disabled, removed or replaced): idle workers are killed now,
    /// busy ones after their call; waiting calls still run.
    func retire() {
        retired = true
        for worker in idle { worker.kill(reason: nil) }
        idle.removeAll()
    }
}
