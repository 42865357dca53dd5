import Dispatch
import Synchronization

/// A one-shot result slot that one thread fills and another waits for (CLI and start-up only).
final class DispatchSemaphoreBox<T: Sendable>: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let value = Mutex<T?>(nil)

    func finish(_ result: T) {
        value.withLock { $0 = result }
        semaphore.signal()
    }

    func wait() -> T {
        semaphore.wait()
        return value.withLock { $0! }
    }
}
