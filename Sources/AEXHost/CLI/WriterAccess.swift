import Foundation

/// Where a CLI command that changes the database goes: this process takes the writer lock (no
/// daemon runs) and writes itself, or the daemon holding the lock is asked over its admin API. The
/// lock decides, so the CLI never writes beside a running daemon.
enum WriterAccess {
    case local(WriterLock)
    case daemon(AdminClient)

    static let lockWaitMilliseconds = 10_000

    static func open(_ home: AEXHome) throws(CommandFailure) -> WriterAccess {
        guard home.isInitialized else { throw CommandFailure("\(home.root) is not initialized; run 'aex init' first") }
        var waitedMilliseconds = 0
        while true {
            do {
                if let lock = try WriterLock.tryAcquire(home) { return .local(lock) }
            } catch {
                throw CommandFailure("\(error)")
            }
            if let state = DaemonState.read(from: home.daemonStatePath), state.isDaemon(of: home) {
                return .daemon(try AdminClient(home: home, state: state))
            }
            guard waitedMilliseconds < lockWaitMilliseconds else {
                throw CommandFailure("another aex process holds \(home.writerLockPath) and no daemon answers; try again")
            }
            usleep(50_000)
            waitedMilliseconds += 50
        }
    }
}

extension WriterAccess {
    /// Runs `body` with the store writer of this process (local mode: the caller holds the writer
    /// lock), stopped after it.
    static func withLocalWriter<T>(_ home: AEXHome, _ body: (StoreWriter) throws -> T) throws -> T {
        let writer: StoreWriter
        do {
            writer = try StoreWriter(path: home.databasePath)
        } catch {
            throw CommandFailure("cannot open \(home.databasePath): \(error)")
        }
        defer { writer.stop() }
        return try body(writer)
    }
}

/// The running daemon's admin API, with the admin token: a refusal becomes a `CommandFailure`
/// with the daemon's message.
struct AdminClient {
    let state: DaemonState
    private let adminToken: String

    init(home: AEXHome, state: DaemonState) throws(CommandFailure) {
        self.state = state
        let token: String
        do {
            token = try ConfigFile.readText(home.adminTokenPath, maxBytes: AEXHome.adminTokenFileBytesMax)
        } catch {
            throw CommandFailure("cannot read the admin token: \(error)")
        }
        adminToken = token.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The 2xx answer's body, or the daemon's error message as a failure.
    func request(_ method: String, _ path: String, _ body: JSONValue? = nil) throws(CommandFailure) -> [UInt8] {
        do {
            let response = try LoopbackHTTPClient.send(
                host: state.host, port: state.port, method: method, path: path,
                headers: [("authorization", "Bearer \(adminToken)")], body: body.map { Array($0.canonicalText.utf8) } ?? [])
            guard (200..<300).contains(response.status) else {
                if case .object(let object)? = try? JSONReader.parse(response.body),
                   case .object(let error)? = object["error"], case .string(let message)? = error["message"] {
                    throw CommandFailure(message)
                }
                throw CommandFailure("the daemon answered \(response.status)")
            }
            return response.body
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("cannot reach the daemon at \(state.baseURL): \(error)")
        }
    }

    /// The answer as JSON.
    func json(_ method: String, _ path: String, _ body: JSONValue? = nil) throws(CommandFailure) -> JSONValue {
        let bytes = try request(method, path, body)
        guard let value = try? JSONReader.parse(bytes) else { throw CommandFailure("the daemon sent an unreadable answer") }
        return value
    }
}
