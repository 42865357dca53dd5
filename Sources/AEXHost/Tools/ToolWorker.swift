import CLinux
import Dispatch
import Foundation
import Glibc

/// One tool worker process seen from the daemon, confined to the event loop that started it: its
/// socket and a one-shot timer are registered in that loop, so a call costs no thread. One call at
/// a time: the request frame is written, the answer frame read, and the worker is killed (its whole
/// process group) when the call runs past its timeout, when the answer grows past its bound, or
/// when the worker dies; a dead worker is reaped off the loop and its private folder removed.
final class ToolWorker: EventSource {
    enum Outcome {
        case answered(ToolFrames.Answer)
        /// The worker died or broke the protocol: the call failed (502 `tool_failed`).
        case failed(String)
        /// Past the tool's timeout; the worker was killed (504 `tool_timeout`).
        case timedOut
    }

    /// What a worker is started with.
    struct Launch: Sendable {
        var executable: String
        var pluginPath: String
        var sha256: String
        var memoryBytesMax: Int
        var cpuSecondsMax: Int
        /// For network tools: the worker may start threads (a network client needs them), so it
        /// gets no limit on new processes, whose count includes threads for a user other than root.
        var network: Bool
    }

    let loop: EventLoop
    let pid: pid_t
    private let fd: Int32
    private let folder: String
    private var timer: ToolWorkerTimer?
    private var inbound: [UInt8] = []
    /// Read buffer, kept for the worker's life (a read per event, no allocation each time).
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var outbound: [UInt8] = []
    private var answerBytesMax = 0
    private var completion: ((Outcome) -> Void)?
    private(set) var alive = true
    /// Called once when the worker is gone (died or killed), after any call's completion.
    var onExit: (() -> Void)?

    var busy: Bool { completion != nil }

    /// Starts a worker (on `loop`'s thread).
    static func start(_ launch: Launch, on loop: EventLoop) throws -> ToolWorker {
        var template = Array((NSTemporaryDirectory() + "aex-tool-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError.last("creating a worker folder") }
        let folder = String(cString: made)
        var pair: [Int32] = [-1, -1]
        guard aex_socketpair(&pair) == 0 else {
            rmdir(folder)
            throw SystemError.last("creating a worker socket pair")
        }
        let arguments = [launch.executable, ToolWorkerMain.command, launch.pluginPath, launch.sha256, folder,
                         String(launch.memoryBytesMax), String(launch.cpuSecondsMax), launch.network ? "network" : "contained"]
        // A scrubbed environment: nothing of the daemon's (provider keys, tokens) reaches a tool.
        let environment = ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HOME=\(folder)", "TMPDIR=\(folder)"]
        var cArguments = arguments.map { strdup($0) } + [nil]
        var cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        let pid = aex_spawn_worker(launch.executable, &cArguments, &cEnvironment, pair[1], STDERR_FILENO)
        close(pair[1])
        guard pid > 0 else {
            close(pair[0])
            rmdir(folder)
            throw SystemError.last("starting a tool worker")
        }
        _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
        let worker = ToolWorker(loop: loop, pid: pid, fd: pair[0], folder: folder)
        try loop.register(worker, fd: pair[0], events: AEX_EPOLLIN | AEX_EPOLLRDHUP)
        worker.timer = try ToolWorkerTimer(loop: loop) { [weak worker] in worker?.expire() }
        return worker
    }

    private init(loop: EventLoop, pid: pid_t, fd: Int32, folder: String) {
        self.loop = loop
        self.pid = pid
        self.fd = fd
        self.folder = folder
    }

    /// Runs one call: `request` is a whole frame; `completion` runs once, on the loop.
    func run(_ request: [UInt8], timeoutMilliseconds: Int, answerBytesMax: Int, completion: @escaping (Outcome) -> Void) {
        precondition(!busy && alive, "a tool worker runs one call at a time")
        self.completion = completion
        self.answerBytesMax = answerBytesMax
        inbound.removeAll(keepingCapacity: true)
        outbound = request
        timer?.arm(milliseconds: timeoutMilliseconds)
        flush()
    }

    func handle(events: UInt32) {
        if events & AEX_EPOLLOUT != 0 { flush() }
        if events & (AEX_EPOLLIN | AEX_EPOLLRDHUP | AEX_EPOLLHUP | AEX_EPOLLERR) != 0 {
            readAvailable()
        }
    }

    private func flush() {
        while !outbound.isEmpty {
            let sent = outbound.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if sent > 0 {
                outbound.removeFirst(sent)
            } else if sent < 0, errno == EAGAIN {
                _ = loop.modify(fd: fd, events: AEX_EPOLLIN | AEX_EPOLLOUT | AEX_EPOLLRDHUP)
                return
            } else if sent < 0, errno == EINTR {
                continue
            } else {
                return die("the tool's worker stopped taking requests")
            }
        }
        _ = loop.modify(fd: fd, events: AEX_EPOLLIN | AEX_EPOLLRDHUP)
    }

    private func readAvailable() {
        while alive {
            let count = readBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                inbound += readBuffer[0..<count]
                if let taken = ToolFrames.take(inbound, bytesMax: answerBytesMax) {
                    switch taken {
                    case .failure:
                        return die("the tool's output exceeded its limit")
                    case .success(let frame):
                        inbound.removeFirst(frame.consumed)
                        timer?.disarm()
                        let done = completion
                        completion = nil
                        done?(.answered(ToolFrames.answer(frame.payload)))
                        return
                    }
                }
                if inbound.count > answerBytesMax + 4 { return die("the tool's output exceeded its limit") }
            } else if count < 0, errno == EAGAIN {
                return
            } else if count < 0, errno == EINTR {
                continue
            } else {
                return die(busy ? "the tool's worker exited during the call (it crashed, ran out of memory or exited)" : "idle worker exited")
            }
        }
    }

    private func expire() {
        guard busy else { return }
        let done = completion
        completion = nil
        kill(reason: nil)
        done?(.timedOut)
    }

    /// The worker failed the call in progress (if any): killed, and the call told why.
    private func die(_ reason: String) {
        let done = completion
        completion = nil
        kill(reason: reason)
        done?(.failed(reason))
    }

    /// Kills the worker's process group, unregisters it, and reaps it off the loop.
    func kill(reason: String?) {
        guard alive else { return }
        alive = false
        Glibc.kill(-pid, SIGKILL)
        Glibc.kill(pid, SIGKILL)
        loop.deregister(fd: fd)
        close(fd)
        timer?.close()
        timer = nil
        let (pid, folder) = (pid, folder)
        DispatchQueue.global().async {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            try? FileManager.default.removeItem(atPath: folder)
        }
        let exit = onExit
        onExit = nil
        exit?()
    }
}

/// A one-shot timerfd in the loop: fires `action` once per arming.
final class ToolWorkerTimer: EventSource {
    private let fd: Int32
    private let loop: EventLoop
    private let action: () -> Void
    private var open = true

    init(loop: EventLoop, action: @escaping () -> Void) throws {
        fd = aex_timerfd_oneshot()
        guard fd >= 0 else { throw SystemError.last("creating a worker timer") }
        self.loop = loop
        self.action = action
        try loop.register(self, fd: fd, events: AEX_EPOLLIN)
    }

    func arm(milliseconds: Int) { _ = aex_timerfd_arm_ms(fd, max(1, milliseconds)) }
    func disarm() { _ = aex_timerfd_arm_ms(fd, -1) }

    func handle(events: UInt32) {
        _ = aex_timerfd_drain(fd)
        action()
    }

    func close() {
        guard open else { return }
        open = false
        loop.deregister(fd: fd)
        Glibc.close(fd)
    }
}
