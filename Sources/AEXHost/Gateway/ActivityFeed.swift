import Dispatch
import Synchronization

/// The live ledger feed of `GET /admin/activity?stream=1`: server-sent events, one per new ledger
/// event, to a bounded set of subscribers.
///
/// One serial queue polls the log every `pollMilliseconds` while anyone listens (on a read-only
/// connection of its own, so the store writer never waits for it) and hands each subscriber its
/// events on the subscriber's loop. A subscriber whose unsent output passes `pendingBytesMax` is
/// dropped (its stream ends; it reconnects with `after_seq`), so a slow reader costs bounded
/// memory; beyond `subscribersMax` a new one is refused 503.
final class ActivityFeed: Sendable {
    static let subscribersMax = 32
    static let pollMilliseconds = 100
    static let pendingBytesMax = 1 << 20
    static let keepaliveMilliseconds: Int64 = 15_000
    /// Events sent per poll or backlog at most (the rest follow at the next poll).
    static let eventsPerPollMax: Int64 = 1_000

    private struct Subscriber {
        let responder: HTTPResponder
        let agent: String?
    }

    private struct State {
        var subscribers: [Int: Subscriber] = [:]
        var nextID = 0
        var polling = false
    }

    private let databasePath: String
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "aex.activity")
    /// Queue-confined: the connection, the last sequence number sent, the last keepalive.
    private nonisolated(unsafe) var database: SQLiteDatabase?
    private nonisolated(unsafe) var lastSeq: Int64 = -1
    private nonisolated(unsafe) var lastKeepaliveMillis: Int64 = 0

    init(databasePath: String) {
        self.databasePath = databasePath
    }

    /// On the responder's loop: starts the stream, sends the events after `afterSeq` (when given),
    /// then every new one. Returns false (nothing sent) when the feed is full.
    func subscribe(_ responder: HTTPResponder, agent: String?, afterSeq: Int64?) -> Bool {
        let id = state.withLock { state -> Int? in
            guard state.subscribers.count < Self.subscribersMax else { return nil }
            state.nextID += 1
            state.subscribers[state.nextID] = Subscriber(responder: responder, agent: agent)
            return state.nextID
        }
        guard let id else { return false }
        responder.onClose = { [self] in _ = state.withLock { $0.subscribers.removeValue(forKey: id) } }
        responder.watchConnection()
        responder.startStream(HTTPResponseHead(status: 200, headers: [
            ("content-type", "text/event-stream"), ("cache-control", "no-cache"), ("x-accel-buffering", "no"),
        ]))
        queue.async { [self] in
            startPollingIfNeeded()
            guard let afterSeq, afterSeq < lastSeq, let db = open() else { return }
            let backlog = (try? LedgerEntries.after(db, seq: afterSeq, limit: Self.eventsPerPollMax)) ?? []
            let bytes = Self.encode(backlog.filter { $0.seq <= lastSeq && (agent == nil || $0.agentName == agent) })
            if !bytes.isEmpty { responder.sendChunk(bytes) }
        }
        return true
    }

    var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Ends every stream (the daemon is stopping: a listener must not hold up the drain).
    func closeAll() {
        let subscribers = state.withLock { state -> [Subscriber] in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers {
            let responder = subscriber.responder
            responder.loop.execute {
                responder.onClose = nil
                responder.endStreamAndClose()
            }
        }
    }

    // MARK: The queue

    private func open() -> SQLiteDatabase? {
        if database == nil { database = try? SQLiteDatabase(path: databasePath, readOnly: true) }
        return database
    }

    private func startPollingIfNeeded() {
        guard state.withLock({ state -> Bool in
            guard !state.polling else { return false }
            state.polling = true
            return true
        }) else { return }
        if lastSeq < 0, let db = open() { lastSeq = (try? LedgerEntries.head(db).seq) ?? 0 }
        schedulePoll()
    }

    private func schedulePoll() {
        queue.asyncAfter(deadline: .now() + .milliseconds(Self.pollMilliseconds)) { [self] in poll() }
    }

    private func poll() {
        let subscribers = state.withLock { state -> [Int: Subscriber] in
            if state.subscribers.isEmpty { state.polling = false }
            return state.subscribers
        }
        guard !subscribers.isEmpty else {
            database = nil  // closed while nobody listens
            return
        }
        defer { schedulePoll() }
        guard let db = open(), let events = try? LedgerEntries.after(db, seq: lastSeq, limit: Self.eventsPerPollMax) else { return }
        let nowMillis = WallClock.monotonicMillis()
        var chunk: [UInt8]?
        if events.isEmpty {
            guard nowMillis - lastKeepaliveMillis >= Self.keepaliveMilliseconds else { return }
            lastKeepaliveMillis = nowMillis
            chunk = Array(": keepalive\n\n".utf8)
        }
        if let last = events.last { lastSeq = last.seq }
        let all = chunk ?? Self.encode(events)
        for (id, subscriber) in subscribers {
            let bytes = chunk != nil || subscriber.agent == nil ? all : Self.encode(events.filter { $0.agentName == subscriber.agent })
            guard !bytes.isEmpty else { continue }
            let responder = subscriber.responder
            responder.loop.execute { [self] in
                guard responder.pendingOutputBytes <= Self.pendingBytesMax else {
                    // Too slow: dropped, never buffered without bound. It reconnects with after_seq.
                    _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
                    responder.onClose = nil
                    return responder.endStreamAndClose()
                }
                responder.sendChunk(bytes)
            }
        }
    }

    /// `id: SEQ` and `data: <event JSON>` per event.
    static func encode(_ entries: [LedgerEntries.Entry]) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            out += Array("id: \(entry.seq)\ndata: ".utf8)
            ActivityAPI.json(entry).write(into: &out)
            out += [0x0a, 0x0a]
        }
        return out
    }
}
