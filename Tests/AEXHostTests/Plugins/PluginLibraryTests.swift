import AEXPluginAPI
import Foundation
import Testing
@testable import AEXHost

/// The loader's checks, against small C libraries compiled here with the C compiler alone.
@Suite struct PluginLibraryTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Compiles `source` (C) into a shared library in `directory`; returns its path.
    func compile(_ source: String, name: String, in directory: TemporaryDirectory) throws -> String {
        let sourcePath = directory.path + "/\(name).c"
        let libraryPath = directory.path + "/lib\(name).so"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        try run("/usr/bin/cc", ["-std=c99", "-shared", "-fPIC", "-I", Self.repositoryRoot + "/Sources/AEXPluginAPI/include",
                                 "-o", libraryPath, sourcePath])
        return libraryPath
    }

    func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(executable) \(arguments.joined(separator: " "))")
    }

    func table(abiMajor: Int, structSize: String, name: String = "\"fixture\"") -> String {
        """
        #include "aex_plugin.h"
        static int32_t build(const aex_call *c, aex_output *o) { (void)c; (void)o; return AEX_STATUS_OK; }
        static const aex_plugin_table table = {
            \(structSize), \(abiMajor), 0, AEX_PLUGIN_KIND_PROVIDER, \(name), "1.0.0", "fixture_type", build, 0 };
        const aex_plugin_table *aex_plugin_entry(const aex_host_table *host) { (void)host; return &table; }
        """
    }

    @Test func acceptsAWellFormedPlugin() throws {
        let dir = TemporaryDirectory()
        let path = try compile(table(abiMajor: 1, structSize: "sizeof(aex_plugin_table)"), name: "good", in: dir)
        let library = try PluginLibrary.load(path: path, host: PluginHostTable.shared)
        #expect(library.name == "fixture")
        #expect(library.provides == ["fixture_type"])
        #expect(library.abi == "1.0")
    }

    @Test func refusalsNameThePathAndTheProblem() throws {
        let dir = TemporaryDirectory()
        let cases: [(String, String, PluginLoadError.Problem)] = [
            ("noentry", "int unrelated(void) { return 1; }", .missingEntryPoint),
            ("major2", table(abiMajor: 2, structSize: "sizeof(aex_plugin_table)"), .wrongABIMajor(found: 2, expected: 1)),
            ("truncated", table(abiMajor: 1, structSize: "16"), .truncatedTable(size: 16, expected: 56)),
            ("refuses", "#include \"aex_plugin.h\"\nconst aex_plugin_table *aex_plugin_entry(const aex_host_table *h) { (void)h; return 0; }",
             .refusedHost),
            ("noname", table(abiMajor: 1, structSize: "sizeof(aex_plugin_table)", name: "\"\""), .badDescription("empty name")),
        ]
        for (name, source, problem) in cases {
            let path = try compile(source, name: name, in: dir)
            #expect(throws: PluginLoadError(path: path, problem: problem)) {
                try PluginLibrary.load(path: path, host: PluginHostTable.shared)
            }
            let message = PluginLoadError(path: path, problem: problem).description
            #expect(message.contains(path))
        }
        let notALibrary = dir.path + "/libtext.so"
        try "not a library".write(toFile: notALibrary, atomically: true, encoding: .utf8)
        do {
            _ = try PluginLibrary.load(path: notALibrary, host: PluginHostTable.shared)
            Issue.record("a text file loaded as a plugin")
        } catch {
            if case .cannotOpen = error.problem {
                #expect(error.description.contains(notALibrary))
            } else {
                Issue.record("wrong problem: \(error)")
            }
        }
    }

    /// A 1.3 table naming `keyHeader` as the header that carries the provider key, with `flags`.
    func keyedTable(keyHeader: String, flags: String = "0") -> String {
        """
        #include "aex_plugin.h"
        static int32_t build(const aex_call *c, aex_output *o) { (void)c; (void)o; return AEX_STATUS_OK; }
        static const aex_plugin_table table = {
            .struct_size = sizeof(aex_plugin_table), .abi_major = 1, .abi_minor = 3, .kind = AEX_PLUGIN_KIND_PROVIDER,
            .name = "keyed", .version = "1.0.0", .provides = "keyed_type", .build_request = build,
            .key_header = \(keyHeader), .flags = \(flags) };
        const aex_plugin_table *aex_plugin_entry(const aex_host_table *host) { (void)host; return &table; }
        """
    }

    @Test func keyHeaderAndFlagsAreReadAndChecked() throws {
        let dir = TemporaryDirectory()
        let keyed = try PluginLibrary.load(path: try compile(keyedTable(keyHeader: "\"X-Api-Key\"", flags: "AEX_PLUGIN_FLAG_UNNAMED_EVENTS"),
                                                             name: "keyed", in: dir), host: PluginHostTable.shared)
        #expect(keyed.keyHeader == "x-api-key")
        #expect(keyed.sendsUnnamedEvents && !keyed.translatesErrors)
        let bearer = try PluginLibrary.load(path: try compile(keyedTable(keyHeader: "0"), name: "bearer", in: dir), host: PluginHostTable.shared)
        #expect(bearer.keyHeader == nil && bearer.flags == 0)
        let older = try PluginLibrary.load(path: try compile(table(abiMajor: 1, structSize: "80"), name: "older", in: dir),
                                           host: PluginHostTable.shared)
        #expect(older.keyHeader == nil && older.flags == 0, "a 1.2 table's size hides the 1.3 fields")
        for (name, header) in [("spaced", "\"x api key\""), ("colon", "\"x-key:\""), ("hostkey", "\"Host\""), ("length", "\"Content-Length\""),
                               ("empty", "\"\"")] {
            let path = try compile(keyedTable(keyHeader: header), name: name, in: dir)
            do {
                _ = try PluginLibrary.load(path: path, host: PluginHostTable.shared)
                Issue.record("key_header \(header) was accepted")
            } catch {
                guard case .badDescription(let problem) = error.problem else { Issue.record("wrong problem: \(error)"); continue }
                #expect(problem.contains("key_header"))
            }
        }
    }

    @Test func swiftSeesTheLayoutTheCStaticAssertionsPin() {
        #expect(MemoryLayout<aex_bytes>.size == 16)
        #expect(MemoryLayout<aex_call>.size == 104)
        #expect(MemoryLayout<aex_call>.offset(of: \.stream_state) == 88)
        #expect(MemoryLayout<aex_call>.offset(of: \.body) == 8)
        #expect(MemoryLayout<aex_call>.offset(of: \.max_output_tokens) == 72)
        #expect(MemoryLayout<aex_call>.offset(of: \.stream) == 80)
        #expect(MemoryLayout<aex_host_table>.size == 96)
        #expect(MemoryLayout<aex_host_table>.offset(of: \.set_stream_state) == 80)
        #expect(MemoryLayout<aex_host_table>.offset(of: \.end_stream) == 88)
        #expect(MemoryLayout<aex_host_table>.offset(of: \.emit) == 64)
        #expect(MemoryLayout<aex_host_table>.offset(of: \.set_cost) == 72)
        #expect(MemoryLayout<aex_host_table>.offset(of: \.set_error) == 56)
        #expect(MemoryLayout<aex_plugin_table>.size == PluginLibrary.tableSizeWithKeyHeader)
        #expect(MemoryLayout<aex_plugin_table>.offset(of: \.key_header) == PluginLibrary.tableSizeWithTools)
        #expect(MemoryLayout<aex_plugin_table>.offset(of: \.flags) == 88)
        #expect(MemoryLayout<aex_plugin_table>.offset(of: \.tools) == PluginLibrary.tableSizeWithStreaming)
        #expect(MemoryLayout<aex_plugin_table>.offset(of: \.run_tool) == 72)
        #expect(MemoryLayout<aex_tool_call>.size == 56)
        #expect(MemoryLayout<aex_plugin_table>.offset(of: \.translate_stream_event) == PluginLibrary.tableSizeMin)
        #expect(MemoryLayout<aex_plugin_table>.offset(of: \.build_request) == 40)
        #expect(MemoryLayout<aex_plugin_table>.offset(of: \.translate_response) == 48)
    }
}
