/// Something registered in an event loop's epoll set. Called on the loop's thread only.
protocol EventSource: AnyObject {
    func handle(events: UInt32)
}
