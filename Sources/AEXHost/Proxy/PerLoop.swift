/// One slot per event loop, each touched only by its own loop's thread (so no lock is needed).
final class PerLoop<Value>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Value?>
    private let count: Int

    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// The loop's value, made on first use. Call on `loop`'s thread only.
    func value(for loop: EventLoop, make: () throws -> Value) rethrows -> Value {
        precondition(loop.index < count && loop.inLoop, "PerLoop used off its loop")
        if let value = slots[loop.index] { return value }
        let value = try make()
        slots[loop.index] = value
        return value
    }
}
