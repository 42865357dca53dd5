import Foundation
import Glibc
import Synchronization

/// What the registry asks of the process that runs plugins: the daemon loads and unloads
/// provider libraries at once; the CLI (daemon stopped) only checks the files.
public protocol PluginActivation: Sendable {
    /// Before an enabled plugin is recorded: check its library (and load it, in the daemon).
    func activate(_ record: PluginRecord) throws(PluginLoadError)
    /// After a plugin was disabled or removed.
    func deactivate(_ record: PluginRecord)
    /// The model aliases that use one of these provider types (in `models.yaml`, and in the
    /// configuration in force when the daemon runs).
    func modelsUsing(providerTypes: Set<String>) -> [String]
}

/// A refused plugin command: the status the admin API answers with and a message for a person.
public struct PluginRefusal: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let description: String

    static func invalid(_ message: String) -> PluginRefusal { PluginRefusal(status: 400, description: message) }
    static func notFound(_ name: String) -> PluginRefusal { PluginRefusal(status: 404, description: "no plugin named '\(name)'") }
    static func conflict(_ message: String) -> PluginRefusal { PluginRefusal(status: 409, description: message) }
}

/// The plugins AEX knows (`tool_plugins`) and the commands that change them: registering the
/// bundled ones, install, enable, disable, remove (SPEC §11). Blocking: call it off the loops.
///
/// Invariants: a refused install leaves nothing behind (no file in `plugins/`, no row, no event);
/// a name, provider type or tool name belongs to one plugin; a provider type that a model uses
/// keeps its plugin enabled; every change is one transaction with its ledger event; commands run
/// one at a time.
public final class PluginRegistry: Sendable {
    /// The libraries built with AEX, found beside the `aex` executable.
    public static let bundledFileNames = ["libAEXOpenAICompatible.so", "libAEXAnthropic.so", "libaex-echo.so", "libAEXTools.so"]

    private let writer: StoreWriter
    private let pluginsDirectory: String
    private let examiner: PluginExaminer
    private let activation: any PluginActivation
    private let now: @Sendable () -> Int64
    private let serial = Mutex(())

    public init(writer: StoreWriter, pluginsDirectory: String, examiner: PluginExaminer, activation: any PluginActivation,
                now: @escaping @Sendable () -> Int64 = WallClock.nowMicros) {
        self.writer = writer
        self.pluginsDirectory = pluginsDirectory
        self.examiner = examiner
        self.activation = activation
        self.now = now
    }

    /// The provider types `models.yaml` may name, read from the database at `databasePath`
    /// (read-only; empty when it cannot be read).
    public static func enabledProviderTypes(databasePath: String) -> Set<String> {
        Set((records(databasePath: databasePath) ?? []).filter { $0.enabled && $0.description.kind == .provider }
            .flatMap(\.description.provides))
    }

    /// The tools of the enabled tool plugins (what `tools.yaml` may name), read-only.
    public static func enabledToolNames(databasePath: String) -> Set<String> {
        Set((records(databasePath: databasePath) ?? []).filter { $0.enabled && $0.description.kind == .tool }
            .flatMap(\.description.provides))
    }

    /// The records in the database at `databasePath`, read-only (nil when it cannot be read).
    public static func records(databasePath: String) -> [PluginRecord]? {
        guard let db = try? SQLiteDatabase(path: databasePath, readOnly: true) else { return nil }
        return try? PluginTable.all(db)
    }

    /// The folder of the running executable, where the bundled plugins are.
    public static func executableDirectory() -> String {
        (PluginExaminer.runningExecutable() as NSString).deletingLastPathComponent
    }

    public func list() throws -> [PluginRecord] { try writer.perform { db in try PluginTable.all(db) } }

    public func record(named name: String) throws -> PluginRecord {
        guard let record = try list().first(where: { $0.name == name }) else { throw PluginRefusal.notFound(name) }
        return record
    }

    // MARK: Bundled plugins

    /// Registers the libraries built with AEX found in `directory` (enabled), and re-records one
    /// whose file changed (a rebuild) with a `plugin_updated` event. Installed plugins are not
    /// touched. Returns the libraries that could not be registered.
    @discardableResult
    public func registerBundled(directory: String) throws -> [PluginLoadError] {
        try serial.withLock { _ in
            var failures: [PluginLoadError] = []
            let records = try list()
            for file in Self.bundledFileNames {
                let path = directory + "/" + file
                guard FileManager.default.fileExists(atPath: path) else { continue }
                let sha: String
                do {
                    sha = try PluginFiles.sha256(of: path)
                } catch {
                    failures.append(PluginLoadError(path: path, problem: .cannotOpen("\(error)")))
                    continue
                }
                let known = records.first { $0.bundled && ($0.path as NSString).lastPathComponent == file }
                if let known, known.path == path, known.sha256 == sha { continue }
                let description: PluginDescription
                do {
                    description = try examiner.examine(path)
                } catch {
                    failures.append(error as? PluginLoadError ?? PluginLoadError(path: path, problem: .cannotOpen("\(error)")))
                    continue
                }
                let previous = known ?? records.first { $0.name == description.name && $0.bundled }
                let record = PluginRecord(description: description, path: path, sha256: sha, enabled: previous?.enabled ?? true,
                                          bundled: true, installedAtMicros: now())
                try writer.perform { [now] db in
                    try PluginTable.put(record, event: previous == nil ? .pluginInstalled : .pluginUpdated, db, nowMicros: now())
                }
            }
            return failures
        }
    }

    // MARK: Install

    /// `aex plugin install PATH [--sha256 HEX] [--enable]`.
    public func install(path: String, expectedSHA256: String?, enable: Bool) throws -> PluginRecord {
        try serial.withLock { _ in try installLocked(path: path, expectedSHA256: expectedSHA256, enable: enable) }
    }

    private func installLocked(path: String, expectedSHA256: String?, enable: Bool) throws -> PluginRecord {
        func refused(_ reason: String) -> PluginRefusal { .invalid("plugin \(path) \(reason)") }
        let bytes: [UInt8]
        do {
            bytes = try PluginFiles.read(path)
        } catch {
            throw refused("cannot be installed: \(error.description)")
        }
        let sha = SHA256.hex(bytes)
        if let expectedSHA256, expectedSHA256.lowercased() != sha {
            throw refused("has SHA-256 \(sha), not the expected \(expectedSHA256.lowercased())")
        }
        try createPluginsDirectory()
        // The bytes read are the bytes examined, installed and hashed: a copy in plugins/ first.
        let staged = pluginsDirectory + "/.staged-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).so"
        var keepStaged = false
        defer { if !keepStaged { unlink(staged) } }
        do {
            try PluginFiles.writeWhole(bytes, to: staged)
        } catch {
            throw refused("cannot be installed: \(error.description)")
        }
        let description: PluginDescription
        do {
            description = try examiner.examine(staged)
        } catch {
            throw PluginRefusal.invalid(PluginLoadError(path: path, problem: error.problem).description)
        }
        let records = try list()
        let previous = records.first { $0.name == description.name }
        if let previous {
            if previous.bundled { throw refused("cannot be installed: the name '\(description.name)' is already taken by a bundled plugin") }
            guard PluginDescription.isNewer(description.version, than: previous.description.version) else {
                throw refused("cannot be installed: '\(description.name)' \(previous.description.version) is already installed, and \(description.version) is not newer")
            }
        }
        for other in records where other.name != description.name {
            if let taken = description.provides.first(where: { other.description.provides.contains($0) }) {
                let what = description.kind == .provider ? "provider type" : "tool name"
                throw refused("cannot be installed: the \(what) '\(taken)' is already taken by plugin '\(other.name)'")
            }
        }
        let finalPath = pluginsDirectory + "/\(description.name)-\(description.version).so"
        guard rename(staged, finalPath) == 0 else { throw refused("cannot be installed: \(String(cString: strerror(errno)))") }
        var record = PluginRecord(description: description, path: finalPath, sha256: sha, enabled: enable || (previous?.enabled ?? false),
                                  bundled: false, installedAtMicros: now())
        do {
            if record.enabled { try activation.activate(record) }
        } catch {
            unlink(finalPath)
            throw PluginRefusal.invalid(PluginLoadError(path: path, problem: error.problem).description)
        }
        do {
            let recorded = record
            try writer.perform { [now] db in try PluginTable.put(recorded, event: .pluginInstalled, db, nowMicros: now()) }
        } catch {
            unlink(finalPath)
            if record.enabled {
                record.enabled = false
                activation.deactivate(record)
            }
            throw error
        }
        keepStaged = true  // renamed: nothing left to remove
        if let previous, previous.path != finalPath {
            if previous.enabled && !record.enabled { activation.deactivate(previous) }
            unlink(previous.path)
        }
        return record
    }

    private func createPluginsDirectory() throws {
        guard mkdir(pluginsDirectory, 0o700) == 0 || errno == EEXIST else {
            throw PluginRefusal.invalid("cannot create \(pluginsDirectory): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: Enable, disable, remove

    public func enable(name: String) throws -> PluginRecord {
        try serial.withLock { _ in
            var record = try record(named: name)
            guard !record.enabled else { return record }
            record.enabled = true
            do {
                try activation.activate(record)
            } catch {
                throw PluginRefusal.invalid("cannot enable '\(name)': \(error)")
            }
            let changed = record
            try writer.perform { [now] db in try PluginTable.setEnabled(changed, db, nowMicros: now()) }
            return record
        }
    }

    public func disable(name: String) throws -> PluginRecord {
        try serial.withLock { _ in
            var record = try record(named: name)
            guard record.enabled else { return record }
            try requireUnused(record, "disabled")
            record.enabled = false
            let changed = record
            try writer.perform { [now] db in try PluginTable.setEnabled(changed, db, nowMicros: now()) }
            activation.deactivate(record)
            return record
        }
    }

    public func remove(name: String) throws -> PluginRecord {
        try serial.withLock { _ in
            let record = try record(named: name)
            guard !record.bundled else {
                throw PluginRefusal.conflict("'\(name)' is bundled with aex and cannot be removed; disable it instead")
            }
            try requireUnused(record, "removed")
            try writer.perform { [now] db in try PluginTable.delete(record, db, nowMicros: now()) }
            activation.deactivate(record)
            unlink(record.path)
            return record
        }
    }

    private func requireUnused(_ record: PluginRecord, _ change: String) throws {
        guard record.description.kind == .provider else { return }
        let models = activation.modelsUsing(providerTypes: Set(record.description.provides))
        guard models.isEmpty else {
            throw PluginRefusal.conflict(
                "'\(record.name)' cannot be \(change): models.yaml uses its provider type for \(models.joined(separator: ", "))")
        }
    }
}
