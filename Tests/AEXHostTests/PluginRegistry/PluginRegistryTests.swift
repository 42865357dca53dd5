import Foundation
import Testing
@testable import AEXHost

/// The plugin registry's pure parts and its table: self-descriptions checked, versions ordered,
/// manifests round-tripped, every change of `tool_plugins` recorded with its event, files checked
/// against their SHA-256, and the doctor's plugin check.
@Suite struct PluginRegistryTests {
    static let shout = PluginDescription(name: "shout", version: "1.0.0", kind: .provider, abiMajor: 1, abiMinor: 1,
                                         provides: ["shout"], streams: false)

    @Test func selfDescriptionsAreCheckedField() {
        #expect(PluginDescription.problem(name: "shout", version: "1.0.0+build.7", provides: ["shout", "loud_2"]) == nil)
        for (name, version, provides) in [("", "1", ["a"]), ("-x", "1", ["a"]), ("a b", "1", ["a"]), ("a/b", "1", ["a"]),
                                          (String(repeating: "n", count: 65), "1", ["a"]), ("a", "", ["a"]), ("a", "1 2", ["a"]),
                                          ("a", "1", ["x,y"]), ("a", "1", ["t", "t"]), ("a", "1", ["ü"])] {
            #expect(PluginDescription.problem(name: name, version: version, provides: provides) != nil, "\(name) \(version) \(provides)")
        }
    }

    @Test func versionsAreOrderedPartByPartNumerically() {
        #expect(PluginDescription.isNewer("1.10.0", than: "1.9.0"))
        #expect(PluginDescription.isNewer("2", than: "1.99.99"))
        #expect(PluginDescription.isNewer("1.0.1", than: "1.0"))
        #expect(!PluginDescription.isNewer("1.0.0", than: "1.0.0"))
        #expect(!PluginDescription.isNewer("1.0", than: "1.0.0"), "a missing part counts as 0")
        #expect(!PluginDescription.isNewer("1.9.0", than: "1.10.0"))
        #expect(PluginDescription.isNewer("1.0.0-rc2", than: "1.0.0-rc1"))
    }

    @Test func theManifestRoundTrips() throws {
        var tool = Self.shout
        tool.kind = .tool
        tool.provides = []
        tool.streams = true
        for description in [Self.shout, tool] {
            #expect(try PluginDescription(json: JSONReader.parse(Array(description.json.canonicalText.utf8))) == description)
        }
        #expect(throws: ConfigurationError.self) { try PluginDescription(json: .object(["name": .string("x")])) }
    }

    @Test func everyChangeIsOneRowChangeWithItsEvent() throws {
        let dir = TemporaryDirectory()
        let writer = try StoreWriter(path: dir.path + "/aex.db")
        defer { writer.stop() }
        let library = dir.path + "/libshout.so"
        try Data("not really a library".utf8).write(to: URL(fileURLWithPath: library))
        var record = PluginRecord(description: Self.shout, path: library, sha256: try PluginFiles.sha256(of: library), enabled: false,
                                  bundled: false, installedAtMicros: 5)
        let installed = record
        try writer.perform { db in try PluginTable.put(installed, event: .pluginInstalled, db, nowMicros: 5) }
        record.enabled = true
        let enabled = record
        try writer.perform { db in try PluginTable.setEnabled(enabled, db, nowMicros: 6) }
        let listed = try writer.perform { db in try PluginTable.all(db) }
        #expect(listed == [enabled])
        #expect(enabled.fileMatches)
        #expect(PluginRegistry.enabledProviderTypes(databasePath: dir.path + "/aex.db") == ["shout"])
        try writer.perform { db in try PluginTable.delete(enabled, db, nowMicros: 7) }
        let left = try writer.perform { db in try PluginTable.all(db) }
        #expect(left.isEmpty)
        let events = try writer.perform { db in
            try db.query("SELECT type, payload FROM event_log WHERE type LIKE 'plugin_%' ORDER BY seq") { ($0.text(0), $0.text(1)) }
        }
        #expect(events.map(\.0) == ["plugin_installed", "plugin_enabled", "plugin_removed"])
        #expect(events.allSatisfy { $0.1.contains(#""name":"shout""#) && $0.1.contains(record.sha256) })
        let verified = try LedgerVerifier.verify(databaseAt: dir.path + "/aex.db")
        #expect(verified.ok)
    }

    @Test func aChangedFileIsRefusedBeforeItIsOpened() throws {
        let dir = TemporaryDirectory()
        let library = dir.path + "/libshout.so"
        try Data("bytes".utf8).write(to: URL(fileURLWithPath: library))
        let record = PluginRecord(description: Self.shout, path: library, sha256: try PluginFiles.sha256(of: library), enabled: true,
                                  bundled: false, installedAtMicros: 0)
        try PluginLoading.verify(record)
        try Data("other bytes".utf8).write(to: URL(fileURLWithPath: library))
        #expect(!record.fileMatches)
        #expect(throws: PluginLoadError(path: library, problem: .checksumMismatch)) { try PluginLoading.load(record) }
    }

    @Test func aTextFileIsNotAnELFSharedLibrary() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/notes.so"
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: PluginLoadError(path: path, problem: .notSharedLibrary)) { try PluginExaminer.requireELFSharedLibrary(path) }
        #expect(throws: PluginLoadError.self) { try PluginExaminer.requireELFSharedLibrary(dir.path + "/missing.so") }
    }

    @Test func theDoctorNamesEveryChangedLibrary() {
        let fine = DoctorChecks.PluginObservation(name: "echo", path: "/x/libaex-echo.so", bundled: true, fileMatches: true)
        let changed = DoctorChecks.PluginObservation(name: "shout", path: "/h/plugins/shout-1.0.0.so", bundled: false, fileMatches: false)
        #expect(DoctorChecks.plugins([fine]).passed)
        let result = DoctorChecks.plugins([fine, changed])
        #expect(!result.passed && result.problem?.contains("shout") == true && result.fix?.contains("aex plugin") == true)
    }
}
