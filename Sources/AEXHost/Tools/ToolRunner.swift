import Synchronization

/// Where tool calls run: one `ToolWorkerPool` per tool plugin library and event loop (a worker's
/// socket lives in the loop that started it), created on first use. The daemon never loads a tool
/// plugin itself. A call is started from, and completes on, its own loop.
public final class ToolRunner: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Workers per tool plugin on each event loop.
        public var workersPerPlugin: Int
        public var memoryBytesMax: Int
        public var cpuSecondsMax: Int

        public init(workersPerPlugin: Int, memoryBytesMax: Int, cpuSecondsMax: Int) {
            self.workersPerPlugin = workersPerPlugin
            self.memoryBytesMax = memoryBytesMax
            self.cpuSecondsMax = cpuSecondsMax
        }
    }

    public let limits: Limits
    private let executable: String
    /// Pools by loop index, then by library path. Each loop touches only its own dictionary.
    private let pools: [LoopPools]

    private final class LoopPools: @unchecked Sendable {
        var byPath: [String: ToolWorkerPool] = [:]
        /// The loop these pools live in, once one was created (set and read on that loop; read
        /// by `retire` only to post work to it).
        let loop = Mutex<EventLoop?>(nil)
    }

    public init(limits: Limits, loopCount: Int, executable: String) {
        self.limits = limits
        self.executable = executable
        pools = (0..<max(1, loopCount)).map { _ in LoopPools() }
    }

    /// Runs `tool` of the plugin recorded at `path` with `sha256`; `completion` runs on `loop`.
    /// Returns false (and runs nothing) when that plugin's queue on this loop is full.
    func run(tool: ToolDescription, pluginPath: String, sha256: String, request: [UInt8], on loop: EventLoop,
             completion: @escaping (ToolWorker.Outcome) -> Void) -> Bool {
        let loopPools = pools[loop.index % pools.count]
        let key = pluginPath + "\u{0}" + sha256 + (tool.network ? "\u{0}network" : "")
        let pool: ToolWorkerPool
        if let existing = loopPools.byPath[key] {
            pool = existing
        } else {
            pool = ToolWorkerPool(
                launch: .init(executable: executable, pluginPath: pluginPath, sha256: sha256, memoryBytesMax: limits.memoryBytesMax,
                              cpuSecondsMax: limits.cpuSecondsMax, network: tool.network),
                workersMax: limits.workersPerPlugin, loop: loop)
            loopPools.byPath[key] = pool
            loopPools.loop.withLock { $0 = loop }
        }
        // The answer frame: the output bound plus room for the envelope and escaping.
        let answerBytesMax = tool.outputBytesMax * 2 + 4_096
        return pool.submit(.init(request: request, timeoutMilliseconds: tool.timeoutMilliseconds, answerBytesMax: answerBytesMax,
                                 completion: completion))
    }

    /// Retires the workers of the library at `pluginPath` on every loop (its plugin was disabled,
    /// removed or replaced by a newer version): idle ones are killed, busy ones after their call.
    public func retire(pluginPath: String) {
        for loopPools in pools {
            guard let loop = loopPools.loop.withLock({ $0 }) else { continue }
            loop.execute {
                for (key, pool) in loopPools.byPath where key.hasPrefix(pluginPath + "\u{0}") {
                    pool.retire()
                    loopPools.byPath[key] = nil
                }
            }
        }
    }
}
