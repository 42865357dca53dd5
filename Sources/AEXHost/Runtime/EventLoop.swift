import CLinux
import Dispatch
import Foundation
import Glibc
import Synchronization

/// One thread, one epoll set. Everything registered with a loop is touched only by its thread;
/// other threads reach it through `execute`, which queues a task and wakes the loop (eventfd).
/// A periodic timer (timerfd) drives `onTick` for deadline sweeps.
///
/// Invariant: nothing run on the loop blocks (no SQLite, no sleep, no blocking I/O).
public final class EventLoop: @unchecked Sendable {
    public static let tickMilliseconds: Int32 = 250
    static let eventsPerWaitMax: Int32 = 256
    static let threadStackBytes = 1 << 20

    let index: Int
    private let epollFD: Int32
    private let wakeFD: Int32
    private let timerFD: Int32
    private let tasks = Mutex<[@Sendable () -> Void]>([])
    private let threadID = Atomic<UInt>(0)
    private let finished = DispatchSemaphore(value: 0)

    // Loop-confined state.
    private var sources: [EventSource?] = []
    /// Told once at the end of the current turn (the batch of events one wait returned).
    private var turnEndObservers: [TurnEndObserver] = []
    private var running = true
    var onTick: (() -> Void)?

    init(index: Int) throws {
        self.index = index
        epollFD = aex_epoll_create()
        wakeFD = aex_eventfd()
        timerFD = aex_timerfd_periodic(Int32(Self.tickMilliseconds))
        guard epollFD >= 0, wakeFD >= 0, timerFD >= 0 else { throw SystemError.last("creating an event loop") }
        guard aex_epoll_add(epollFD, wakeFD, AEX_EPOLLIN, UInt64(wakeFD)) == 0,
              aex_epoll_add(epollFD, timerFD, AEX_EPOLLIN, UInt64(timerFD)) == 0
        else { throw SystemError.last("registering loop descriptors") }
    }

    deinit {
        close(epollFD)
        close(wakeFD)
        close(timerFD)
    }

    /// Runs `task` on this loop's thread, soon. Safe from any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        let wasEmpty = tasks.withLock { queue -> Bool in
            queue.append(task)
            return queue.count == 1
        }
        if wasEmpty { _ = aex_eventfd_signal(wakeFD) }
    }

    /// True on this loop's own thread.
    public var inLoop: Bool { threadID.load(ordering: .relaxed) == UInt(bitPattern: Int(bitPattern: pthread_self())) }

    func start(name: String) {
        let thread = Thread { [self] in
            ThreadName.set(name)
            threadID.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .relaxed)
            run()
            finished.signal()
        }
        thread.stackSize = Self.threadStackBytes
        thread.start()
    }

    /// Blocks until the loop's thread has finished.
    func waitUntilFinished() { finished.wait() }

    /// Ends the loop after the current iteration. Loop thread only.
    func stopRunning() { running = false }

    func register(_ source: EventSource, fd: Int32, events: UInt32) throws {
        let slot = Int(fd)
        if slot >= sources.count { sources.append(contentsOf: repeatElement(nil, count: slot - sources.count + 64)) }
        sources[slot] = source
        guard aex_epoll_add(epollFD, fd, events, UInt64(fd)) == 0 else {
            sources[slot] = nil
            throw SystemError.last("registering descriptor")
        }
    }

    /// Changes the events watched on a registered descriptor; false when it is not in the set.
    @discardableResult
    func modify(fd: Int32, events: UInt32) -> Bool {
        aex_epoll_modify(epollFD, fd, events, UInt64(fd)) == 0
    }

    /// Removes the descriptor from the set (the caller closes it).
    func deregister(fd: Int32) {
        _ = aex_epoll_remove(epollFD, fd)
        if Int(fd) < sources.count { sources[Int(fd)] = nil }
    }

    /// Calls `observer.turnEnded()` once the events of this turn are handled (loop thread only): a
    /// connection writes what the turn produced for it in one send instead of one per piece.
    func callAtTurnEnd(_ observer: TurnEndObserver) {
        turnEndObservers.append(observer)
    }

    private func endTurn() {
        while !turnEndObservers.isEmpty {  // an observer may enlist others (or itself) again
            let observers = turnEndObservers
            turnEndObservers.removeAll(keepingCapacity: true)
            for observer in observers { observer.turnEnded() }
        }
    }

    private func run() {
        var events = [aex_epoll_event](repeating: aex_epoll_event(), count: Int(Self.eventsPerWaitMax))
        while running {
            let count = aex_epoll_wait(epollFD, &events, Self.eventsPerWaitMax, -1)
            if count < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in 0..<Int(count) {
                let fd = Int32(truncatingIfNeeded: events[i].data)
                if fd == wakeFD {
                    _ = aex_eventfd_drain(wakeFD)
                    runTasks()
                } else if fd == timerFD {
                    _ = aex_timerfd_drain(timerFD)
                    onTick?()
                } else if Int(fd) < sources.count, let source = sources[Int(fd)] {
                    source.handle(events: events[i].events)
                }
            }
            endTurn()
        }
    }

    private func runTasks() {
        let pending = tasks.withLock { queue -> [@Sendable () -> Void] in
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            return taken
        }
        for task in pending { task() }
    }
}

/// Something that finishes its work at the end of a loop turn (see `EventLoop.callAtTurnEnd`).
protocol TurnEndObserver: AnyObject {
    func turnEnded()
}
