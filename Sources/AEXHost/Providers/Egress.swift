import CCurl
import CLinux
import Glibc

/// The provider calls of one event loop: a libcurl multi handle whose sockets and timer sit in the
/// loop's epoll set. No thread per request and no blocking call; connections to a provider are
/// reused from the multi handle's cache. The only file that calls libcurl. Loop-confined.
final class Egress: EventSource, @unchecked Sendable {
    private let loop: EventLoop
    private let multi: OpaquePointer
    private let timerFD: Int32
    private var transfers: [UnsafeMutableRawPointer: Transfer] = [:]
    private var sockets: [Int32: CurlSocket] = [:]
    /// Sockets libcurl opened for provider connections (`CURLOPT_SOCKOPTFUNCTION`) and has not
    /// closed yet: only these are parked. libcurl also hands the loop descriptors it closes
    /// itself, without `CURLOPT_CLOSESOCKETFUNCTION` (the resolver thread's socket pair), so a
    /// parked registration of one of those would outlive its number.
    private var connectionSockets = Set<Int32>()
    /// Depth of calls into libcurl in progress: handles must not be removed from inside its callbacks.
    private var insideLibcurl = 0
    /// Finished transfers' easy handles, reset and kept for the next ones (creating one costs
    /// several allocations; reuse keeps its buffers). At most `idleEasyHandlesMax`.
    private var idleEasyHandles: [OpaquePointer] = []
    static let idleEasyHandlesMax = 64
    /// Provider connections libcurl keeps open for reuse (`CURLMOPT_MAXCONNECTS`).
    static let cachedConnectionsMax = 256
    /// When the timerfd is armed for libcurl (see `CurlTimer`).
    private var timer = CurlTimer()
    /// Header lists built for recent transfers, most recent last (at most `CurlHeaderList.cachedListsMax`).
    private var headerLists: [CurlHeaderList] = []
    /// Calls to plain-HTTP providers at a numeric address, made without libcurl (nil: all through libcurl).
    private let plain: PlainHTTPClient?
    /// What recent provider URLs parse to (nil: not for `plain`), at most `plainTargetsCachedMax`.
    private var plainTargets: [String: PlainHTTPTarget?] = [:]
    static let plainTargetsCachedMax = 64

    /// One transfer in flight. Owns its easy handle (until `retire` hands it back to the pool) and
    /// response buffer, and holds its (shared) header list.
    final class Transfer {
        let easy: OpaquePointer
        var headerList: CurlHeaderList?
        var body: [UInt8] = []
        var contentType: String?
        let responseBytesMax: Int
        var overflowed = false
        let completion: (UpstreamResult) -> Void
        /// For streams: receives the chunks of a 2xx answer as they arrive (other answers are buffered).
        var onData: ((UnsafeRawBufferPointer) -> StreamAction)?
        var streamedBytes = 0
        /// Set when the transfer is cancelled from inside a libcurl callback; it stops at the next byte.
        var cancelRequested = false
        /// Streams: the longest silence allowed between bytes, and when the last byte came.
        var idleTimeoutMilliseconds: Int64?
        var lastByteAtMillis = WallClock.monotonicMillis()
        /// Paused by the consumer (a slow client): its silence is ours, not the provider's.
        var paused = false


        init(easy: OpaquePointer, responseBytesMax: Int, completion: @escaping (UpstreamResult) -> Void) {
            self.easy = easy
            self.responseBytesMax = responseBytesMax
            self.completion = completion
        }

        /// Set once the easy handle went back to the pool.
        var retired = false
        /// Unique within its `Egress` (see `Handle`).
        var serial: UInt64 = 0

        deinit {
            if !retired { curl_easy_cleanup(UnsafeMutableRawPointer(easy)) }
        }
    }

    /// The periodic sweep that ends silent streams.
    final class IdleSweep: EventSource {
        unowned let egress: Egress
        let fd: Int32
        init(egress: Egress, fd: Int32) {
            self.egress = egress
            self.fd = fd
        }
        func handle(events: UInt32) {
            _ = aex_timerfd_drain(fd)
            egress.endSilentStreams()
            egress.plain?.endOverdue(now: WallClock.monotonicMillis())
        }
    }

    static let idleSweepMilliseconds: Int32 = 250
    private var idleSweep: IdleSweep?

    /// A libcurl socket registered in the loop.
    ///
    /// A connection libcurl puts back in its cache (`CURL_POLL_REMOVE` while watched for input
    /// only) stays in the epoll set, parked: the next transfer on it needs no `epoll_ctl`, so a
    /// reused connection costs no registration calls per request. A parked socket that becomes
    /// readable (the provider closed it, or sent something unasked) leaves the set at once —
    /// libcurl checks a cached connection before reusing it — and every connection socket leaves
    /// the set when libcurl closes it (`closing`), before its number can be reused. Other
    /// descriptors (see `connectionSockets`) leave the set as soon as libcurl stops watching them.
    final class CurlSocket: EventSource {
        unowned let egress: Egress
        let fd: Int32
        var events: UInt32
        var parked = false
        init(egress: Egress, fd: Int32, events: UInt32) {
            self.egress = egress
            self.fd = fd
            self.events = events
        }
        func handle(events: UInt32) {
            if parked {
                egress.forget(fd)
                return
            }
            var mask: Int32 = 0
            if events & AEX_EPOLLIN != 0 { mask |= CURL_CSELECT_IN }
            if events & AEX_EPOLLOUT != 0 { mask |= CURL_CSELECT_OUT }
            if events & (AEX_EPOLLERR | AEX_EPOLLHUP) != 0 { mask |= CURL_CSELECT_ERR }
            egress.socketAction(fd, mask)
        }
    }

    static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// `plainHTTPOnLoop`: calls to `http://` providers at a numeric address (or `localhost`) go
    /// through `PlainHTTPClient` instead of libcurl.
    init(loop: EventLoop, plainHTTPOnLoop: Bool = true) throws {
        _ = Egress.globalInit
        self.loop = loop
        plain = plainHTTPOnLoop ? PlainHTTPClient(loop: loop) : nil
        guard let multi = curl_multi_init() else { throw SystemError(operation: "curl_multi_init", code: ENOMEM) }
        self.multi = OpaquePointer(multi)
        timerFD = aex_timerfd_oneshot()
        guard timerFD >= 0 else { throw SystemError.last("creating the egress timer") }
        let me = Unmanaged.passUnretained(self).toOpaque()
        aex_curl_multi_set_pointer(multi, CURLMOPT_SOCKETDATA, me)
        aex_curl_multi_set_pointer(multi, CURLMOPT_TIMERDATA, me)
        aex_curl_multi_set_socket_callback(multi) { _, socket, what, userp, _ in
            guard let userp else { return 0 }
            Unmanaged<Egress>.fromOpaque(userp).takeUnretainedValue().watch(socket, what: what)
            return 0
        }
        aex_curl_multi_set_timer_callback(multi) { _, timeoutMilliseconds, userp in
            guard let userp else { return 0 }
            Unmanaged<Egress>.fromOpaque(userp).takeUnretainedValue().scheduleTimeout(milliseconds: Int64(timeoutMilliseconds))
            return 0
        }
        aex_curl_multi_set_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0)
        aex_curl_multi_set_long(multi, CURLMOPT_MAXCONNECTS, Self.cachedConnectionsMax)
    }

    /// Registers the timer in the loop. Loop thread only.
    func activate() throws {
        try loop.register(self, fd: timerFD, events: AEX_EPOLLIN)
        let sweepFD = aex_timerfd_periodic(Self.idleSweepMilliseconds)
        guard sweepFD >= 0 else { throw SystemError.last("creating the idle sweep timer") }
        let sweep = IdleSweep(egress: self, fd: sweepFD)
        try loop.register(sweep, fd: sweepFD, events: AEX_EPOLLIN)
        idleSweep = sweep
    }

    /// Ends every stream whose provider has sent nothing for longer than its idle timeout.
    fileprivate func endSilentStreams() {
        let now = WallClock.monotonicMillis()
        let silent = transfers.filter { _, transfer in
            !transfer.paused && (transfer.idleTimeoutMilliseconds.map { now - transfer.lastByteAtMillis > $0 } ?? false)
        }
        for (key, transfer) in silent {
            transfers[key] = nil
            curl_multi_remove_handle(UnsafeMutableRawPointer(multi), key)
            retire(transfer)
            transfer.completion(.timedOut)
        }
        runDueTimeoutActions()
    }

    /// The timer fired.
    func handle(events: UInt32) {
        _ = aex_timerfd_drain(timerFD)
        timer.fired()
        socketAction(aex_curl_socket_timeout(), 0)
        perform(timer.afterTimeouts(now: WallClock.monotonicMillis()))
    }

    /// libcurl's timer callback.
    private func scheduleTimeout(milliseconds: Int64) {
        perform(timer.requested(milliseconds: milliseconds, now: WallClock.monotonicMillis()))
    }

    private func perform(_ action: CurlTimer.Action) {
        guard case .arm(let milliseconds) = action else { return }
        if aex_timerfd_arm_ms(timerFD, Int(milliseconds)) == 0 { timer.armed(deadline: WallClock.monotonicMillis() + milliseconds) }
    }

    /// Runs the timeout actions libcurl asked for with a zero timeout (outside libcurl only).
    private func runDueTimeoutActions() {
        var rounds = 0
        while timer.actionDue, insideLibcurl == 0, rounds < 16 {
            timer.actionDue = false
            rounds += 1
            var running: Int32 = 0
            insideLibcurl += 1
            _ = curl_multi_socket_action(UnsafeMutableRawPointer(multi), aex_curl_socket_timeout(), 0, &running)
            insideLibcurl -= 1
            collectFinished()
        }
        if timer.actionDue, insideLibcurl == 0 {
            // Still asking after many rounds: let the loop breathe and come back through the timer.
            runDueTimeoutActionsNextTurn()
        }
    }

    /// The zero-timeout actions run at the loop's next turn, through the timerfd.
    private func runDueTimeoutActionsNextTurn() {
        guard timer.actionDue else { return }
        timer.actionDue = false
        if aex_timerfd_arm_ms(timerFD, 0) == 0 { timer.armed(deadline: WallClock.monotonicMillis()) }
    }

    /// Takes a finished transfer's easy handle back into the pool.
    private func retire(_ transfer: Transfer) {
        guard !transfer.retired else { return }
        transfer.retired = true
        if idleEasyHandles.count < Self.idleEasyHandlesMax {
            curl_easy_reset(UnsafeMutableRawPointer(transfer.easy))
            idleEasyHandles.append(transfer.easy)
        } else {
            curl_easy_cleanup(UnsafeMutableRawPointer(transfer.easy))
        }
    }

    var inFlight: Int { transfers.count + (plain?.inFlight ?? 0) }

    /// Identifies a transfer for `resume` and `cancel`. A libcurl transfer by its easy handle and
    /// its serial number, since easy handles are reused — a stale handle must never reach the
    /// transfer that reuses its easy; a plain-HTTP one by its serial.
    enum Handle: Hashable, @unchecked Sendable {  // an identity, used on the loop only
        case curl(key: UnsafeMutableRawPointer, serial: UInt64)
        case plain(serial: UInt64)
    }
    private var nextSerial: UInt64 = 0

    /// The live transfer `handle` names, if it still runs.
    private func transfer(_ handle: Handle) -> Transfer? {
        guard case .curl(let key, let serial) = handle, let transfer = transfers[key], transfer.serial == serial else { return nil }
        return transfer
    }

    /// Starts a transfer; `completion` runs on this loop exactly once (not after `cancel`).
    /// With `onData`, the body of a 2xx answer goes to it chunk by chunk instead of being collected.
    @discardableResult
    func start(_ request: UpstreamRequest, onData: ((UnsafeRawBufferPointer) -> StreamAction)? = nil,
               completion: @escaping (UpstreamResult) -> Void) -> Handle? {
        if let plain, let target = plainTarget(request.url) {
            return .plain(serial: plain.start(request, target: target, onData: onData, completion: completion))
        }
        guard let easy = idleEasyHandles.popLast() ?? curl_easy_init().map(OpaquePointer.init) else {
            completion(.unavailable("cannot create a transfer"))
            return nil
        }
        let rawEasy = UnsafeMutableRawPointer(easy)
        let transfer = Transfer(easy: easy, responseBytesMax: request.responseBytesMax, completion: completion)
        nextSerial &+= 1
        transfer.serial = nextSerial
        transfer.onData = onData
        let key = UnsafeMutableRawPointer(rawEasy)
        aex_curl_easy_set_string(rawEasy, CURLOPT_URL, request.url)
        aex_curl_easy_set_string(rawEasy, CURLOPT_CUSTOMREQUEST, request.method)
        if request.method == "POST" || !request.body.isEmpty {
            aex_curl_easy_set_long(rawEasy, CURLOPT_POSTFIELDSIZE, request.body.count)
            // COPYPOSTFIELDS copies POSTFIELDSIZE bytes now, so the array need not outlive this call.
            request.body.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress, bytes.count > 0 {
                    _ = aex_curl_easy_set_pointer(rawEasy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base))
                } else {
                    aex_curl_easy_set_string(rawEasy, CURLOPT_COPYPOSTFIELDS, "")
                }
            }
        }
        let headerList = headerList(sending: request.headers)
        transfer.headerList = headerList
        aex_curl_easy_set_slist(rawEasy, CURLOPT_HTTPHEADER, headerList.list)
        aex_curl_easy_set_long(rawEasy, CURLOPT_NOSIGNAL, 1)
        aex_curl_easy_set_long(rawEasy, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMilliseconds)
        if let idle = request.idleTimeoutSeconds {
            // libcurl's low-speed limit averages over time, so a trickle never trips it: the idle
            // sweep (every `idleSweepMilliseconds`) ends a stream silent for longer than this.
            transfer.idleTimeoutMilliseconds = Int64(idle) * 1_000
        } else {
            aex_curl_easy_set_long(rawEasy, CURLOPT_TIMEOUT_MS, request.totalTimeoutMilliseconds)
        }
        aex_curl_easy_set_long(rawEasy, CURLOPT_TCP_NODELAY, 1)
        aex_curl_easy_set_pointer(rawEasy, CURLOPT_CLOSESOCKETDATA, Unmanaged.passUnretained(self).toOpaque())
        aex_curl_easy_set_close_socket_callback(rawEasy) { egress, socket in
            guard let egress else { return close(socket) }
            return Unmanaged<Egress>.fromOpaque(egress).takeUnretainedValue().closing(socket)
        }
        aex_curl_easy_set_pointer(rawEasy, CURLOPT_SOCKOPTDATA, Unmanaged.passUnretained(self).toOpaque())
        aex_curl_easy_set_sockopt_callback(rawEasy) { egress, socket, purpose in
            if purpose == CURLSOCKTYPE_IPCXN, let egress { Unmanaged<Egress>.fromOpaque(egress).takeUnretainedValue().opened(socket) }
            return CURL_SOCKOPT_OK
        }
        aex_curl_easy_set_long(rawEasy, CURLOPT_FOLLOWLOCATION, 0)
        let transferPointer = Unmanaged.passUnretained(transfer).toOpaque()
        aex_curl_easy_set_pointer(rawEasy, CURLOPT_WRITEDATA, transferPointer)
        aex_curl_easy_set_write_callback(rawEasy) { data, size, count, userp in
            guard let userp, let data else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(userp).takeUnretainedValue()
            let length = size * count
            if transfer.cancelRequested { return 0 }
            transfer.lastByteAtMillis = WallClock.monotonicMillis()
            if let onData = transfer.onData {
                var status = 0
                aex_curl_easy_get_long(UnsafeMutableRawPointer(transfer.easy), CURLINFO_RESPONSE_CODE, &status)
                if (200..<300).contains(status) {
                    let action = onData(UnsafeRawBufferPointer(start: data, count: length))
                    if transfer.cancelRequested { return 0 }
                    switch action {
                    case .accepted:
                        transfer.streamedBytes += length
                        return length
                    case .pause:
                        transfer.paused = true
                        return aex_curl_writefunc_pause()
                    }
                }
            }
            guard transfer.body.count + length <= transfer.responseBytesMax else {
                transfer.overflowed = true
                return 0  // aborts the transfer
            }
            data.withMemoryRebound(to: UInt8.self, capacity: length) {
                transfer.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
            }
            return length
        }
        transfers[key] = transfer
        if curl_multi_add_handle(UnsafeMutableRawPointer(multi), rawEasy) != CURLM_OK {
            transfers[key] = nil
            retire(transfer)
            completion(.unavailable("cannot start the transfer"))
            return nil
        }
        // A call's transfer starts at once (and may even finish here: its completion must tolerate
        // that). A stream's waits for the loop's next turn, so its consumer holds the handle
        // before the first chunk can arrive and can cancel or pause from its very first callback.
        if onData == nil { runDueTimeoutActions() } else { runDueTimeoutActionsNextTurn() }
        return .curl(key: key, serial: transfer.serial)
    }

    private func plainTarget(_ url: String) -> PlainHTTPTarget? {
        if let known = plainTargets[url] { return known }
        let parsed = PlainHTTPTarget(url: url)
        if plainTargets.count >= Self.plainTargetsCachedMax { plainTargets.removeAll(keepingCapacity: true) }
        plainTargets[url] = .some(parsed)
        return parsed
    }

    private func headerList(sending headers: [(String, String)]) -> CurlHeaderList {
        if let index = headerLists.lastIndex(where: { $0.sends(headers) }) { return headerLists[index] }
        let built = CurlHeaderList(headers)
        if headerLists.count >= CurlHeaderList.cachedListsMax { headerLists.removeFirst() }
        headerLists.append(built)
        return built
    }

    /// Resumes a paused stream (libcurl delivers the held chunk again, possibly at once).
    func resume(_ handle: Handle) {
        if case .plain(let serial) = handle { return plain?.resume(serial) ?? () }
        guard case .curl(let key, _) = handle, let transfer = transfer(handle) else { return }
        transfer.paused = false
        transfer.lastByteAtMillis = WallClock.monotonicMillis()
        insideLibcurl += 1
        _ = aex_curl_easy_unpause(key)
        insideLibcurl -= 1
        collectFinished()
        runDueTimeoutActions()
    }

    /// Aborts a transfer; its completion is called with `.cancelled`. From inside a libcurl
    /// callback (where a handle must not be removed) the removal waits for the next loop turn.
    func cancel(_ handle: Handle) {
        if case .plain(let serial) = handle { return plain?.cancel(serial) ?? () }
        guard case .curl(let key, _) = handle, let transfer = transfer(handle) else { return }
        if insideLibcurl > 0 {
            transfer.cancelRequested = true
            loop.execute { [self] in cancel(handle) }
            return
        }
        transfers[key] = nil
        curl_multi_remove_handle(UnsafeMutableRawPointer(multi), key)
        retire(transfer)
        transfer.completion(.cancelled)
        runDueTimeoutActions()
    }

    // MARK: libcurl callbacks and actions

    private func watch(_ socket: curl_socket_t, what: Int32) {
        if what == CURL_POLL_REMOVE {
            guard let source = sockets[socket] else { return }
            if source.events == AEX_EPOLLIN && connectionSockets.contains(socket) {
                source.parked = true
            } else {
                forget(socket)
            }
            return
        }
        var events: UInt32 = 0
        if what == CURL_POLL_IN || what == CURL_POLL_INOUT { events |= AEX_EPOLLIN }
        if what == CURL_POLL_OUT || what == CURL_POLL_INOUT { events |= AEX_EPOLLOUT }
        if let source = sockets[socket] {
            source.parked = false
            if source.events != events {
                source.events = events
                if !loop.modify(fd: socket, events: events) {
                    // Not in the set after all (closed and reused behind our back): register anew.
                    sockets[socket] = nil
                    watch(socket, what: what)
                }
            }
        } else {
            let source = CurlSocket(egress: self, fd: socket, events: events)
            do {
                try loop.register(source, fd: socket, events: events)
                sockets[socket] = source
            } catch {
                // The transfer will time out; nothing else can be done from inside libcurl's callback.
            }
        }
    }

    /// Takes a socket out of the epoll set and out of `sockets`.
    fileprivate func forget(_ socket: curl_socket_t) {
        if sockets.removeValue(forKey: socket) != nil { loop.deregister(fd: socket) }
    }

    /// libcurl closes a socket (`CURLOPT_CLOSESOCKETFUNCTION`): it leaves the set first, so a
    /// parked registration never outlives its descriptor number.
    fileprivate func closing(_ socket: curl_socket_t) -> Int32 {
        connectionSockets.remove(socket)
        forget(socket)
        return close(socket)
    }

    /// libcurl opened a socket for a provider connection (`CURLOPT_SOCKOPTFUNCTION`).
    fileprivate func opened(_ socket: curl_socket_t) {
        connectionSockets.insert(socket)
    }

    fileprivate func socketAction(_ socket: curl_socket_t, _ mask: Int32) {
        var running: Int32 = 0
        insideLibcurl += 1
        _ = curl_multi_socket_action(UnsafeMutableRawPointer(multi), socket, mask, &running)
        insideLibcurl -= 1
        collectFinished()
        runDueTimeoutActions()
    }

    private func collectFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(UnsafeMutableRawPointer(multi), &remaining) {
            guard aex_curl_msg_is_done(message) != 0, let easy = aex_curl_msg_easy(message) else { continue }
            let code = aex_curl_msg_result(message)
            curl_multi_remove_handle(UnsafeMutableRawPointer(multi), easy)
            guard let transfer = transfers.removeValue(forKey: easy) else { continue }
            let outcome = transfer.cancelRequested ? UpstreamResult.cancelled : result(of: transfer, code: code)
            retire(transfer)
            transfer.completion(outcome)
        }
    }

    private func result(of transfer: Transfer, code: CURLcode) -> UpstreamResult {
        let rawEasy = UnsafeMutableRawPointer(transfer.easy)
        if transfer.overflowed { return .tooLarge }
        switch code {
        case CURLE_OK:
            var status = 0
            aex_curl_easy_get_long(rawEasy, CURLINFO_RESPONSE_CODE, &status)
            var typePointer: UnsafeMutableRawPointer?
            aex_curl_easy_get_pointer(rawEasy, CURLINFO_CONTENT_TYPE, &typePointer)
            let contentType = typePointer.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) }
            return .response(status: status, contentType: contentType, body: transfer.body)
        case CURLE_OPERATION_TIMEDOUT:
            return .timedOut
        default:
            return .unavailable(String(cString: curl_easy_strerror(code)))
        }
    }
}
