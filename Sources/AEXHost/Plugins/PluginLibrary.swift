import AEXPluginAPI
import Glibc

/// A plugin library opened with dlopen and checked. The only file that calls dlopen/dlsym.
///
/// Invariants: opened with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE and never closed (a Swift plugin's
/// runtime metadata must stay mapped); accepted only when the entry point exists, returns a table
/// of the host's ABI major, at least the 1.0 size, and a complete self-description.
public struct PluginLibrary: @unchecked Sendable {
    public static let entrySymbol = AEX_PLUGIN_ENTRY_SYMBOL
    /// Size of `aex_plugin_table` in ABI 1.0: the least a plugin table may be.
    public static let tableSizeMin = 56

    public let path: String
    public let table: UnsafePointer<aex_plugin_table>
    public let name: String
    public let version: String
    public let kind: aex_plugin_kind
    public let provides: [String]
    public var abi: String { "\(table.pointee.abi_major).\(table.pointee.abi_minor)" }

    /// Size of `aex_plugin_table` from ABI 1.1 (which added `translate_stream_event`).
    static let tableSizeWithStreaming = 64
    /// Size of `aex_plugin_table` from ABI 1.2 (which added `tools` and `run_tool`).
    static let tableSizeWithTools = 80
    /// Size of `aex_plugin_table` from ABI 1.3 (which added `key_header` and `flags`).
    static let tableSizeWithKeyHeader = 96
    /// Headers the host owns on every upstream request: never the one that carries a key.
    static let keyHeadersRefused: Set<String> = ["host", "content-length", "content-type", "transfer-encoding", "connection",
                                                 "keep-alive", "te", "upgrade", "expect", "trailer", "proxy-authorization"]
    static let keyHeaderBytesMax = 64

    /// The header that carries the provider key as is (ABI 1.3), lower-cased; nil: `Authorization: Bearer`.
    public let keyHeader: String?
    /// `AEX_PLUGIN_FLAG_*` bits (ABI 1.3); 0 for older tables.
    public let flags: UInt64
    /// The plugin's stream data goes to the client without the provider's event names.
    var sendsUnnamedEvents: Bool { flags & AEX_PLUGIN_FLAG_UNNAMED_EVENTS != 0 }
    /// `translate_response` also turns the provider's error answers into OpenAI-shaped ones.
    var translatesErrors: Bool { flags & AEX_PLUGIN_FLAG_TRANSLATES_ERRORS != 0 }

    /// A tool plugin's tools (ABI 1.2), read and checked at load.
    public let tools: [ToolDescription]

    /// The tool hook, when the plugin's table is recent enough to have it and offers it.
    var runTool: (@convention(c) (UnsafePointer<aex_tool_call>?, OpaquePointer?) -> Int32)? {
        Int(table.pointee.struct_size) >= Self.tableSizeWithTools ? table.pointee.run_tool : nil
    }

    /// The stream hook, when the plugin's table is recent enough to have it and offers it.
    var translateStreamEvent: (@convention(c) (UnsafePointer<aex_call>?, aex_bytes, OpaquePointer?) -> Int32)? {
        Int(table.pointee.struct_size) >= Self.tableSizeWithStreaming ? table.pointee.translate_stream_event : nil
    }

    public static func load(path: String, host: UnsafePointer<aex_host_table>) throws(PluginLoadError) -> PluginLibrary {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let detail = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw PluginLoadError(path: path, problem: .cannotOpen(detail))
        }
        guard let symbol = dlsym(handle, entrySymbol) else {
            throw PluginLoadError(path: path, problem: .missingEntryPoint)
        }
        let entry = unsafeBitCast(symbol, to: aex_plugin_entry_fn.self)
        guard let table = entry(host) else { throw PluginLoadError(path: path, problem: .refusedHost) }
        guard Int(table.pointee.abi_major) == Int(AEX_PLUGIN_ABI_MAJOR) else {
            throw PluginLoadError(
                path: path, problem: .wrongABIMajor(found: Int(table.pointee.abi_major), expected: Int(AEX_PLUGIN_ABI_MAJOR)))
        }
        guard Int(table.pointee.abi_minor) <= Int(AEX_PLUGIN_ABI_MINOR) else {
            throw PluginLoadError(path: path, problem: .newerABIMinor(found: Int(table.pointee.abi_minor), host: Int(AEX_PLUGIN_ABI_MINOR)))
        }
        guard Int(table.pointee.struct_size) >= tableSizeMin else {
            throw PluginLoadError(path: path, problem: .truncatedTable(size: Int(table.pointee.struct_size), expected: tableSizeMin))
        }
        func text(_ pointer: UnsafePointer<CChar>?, _ field: String) throws(PluginLoadError) -> String {
            guard let pointer, pointer.pointee != 0 else { throw PluginLoadError(path: path, problem: .badDescription("empty \(field)")) }
            return String(cString: pointer)
        }
        let name = try text(table.pointee.name, "name")
        let version = try text(table.pointee.version, "version")
        let kind = aex_plugin_kind(rawValue: table.pointee.kind)
        guard kind == AEX_PLUGIN_KIND_PROVIDER || kind == AEX_PLUGIN_KIND_TOOL
        else { throw PluginLoadError(path: path, problem: .badDescription("unknown kind \(table.pointee.kind)")) }
        // A provider plugin names the provider types it serves; a tool plugin's tools come from
        // its tool hooks, so its `provides` may be empty.
        let providesText = table.pointee.provides.map { String(cString: $0) } ?? ""
        var provides = providesText.split(separator: ",").map { String($0).trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        if kind == AEX_PLUGIN_KIND_PROVIDER {
            guard !provides.isEmpty else { throw PluginLoadError(path: path, problem: .badDescription("empty provides")) }
            guard table.pointee.build_request != nil else {
                throw PluginLoadError(path: path, problem: .badDescription("a provider plugin without build_request"))
            }
        }
        var tools: [ToolDescription] = []
        if kind == AEX_PLUGIN_KIND_TOOL {
            guard Int(table.pointee.struct_size) >= tableSizeWithTools, let text = table.pointee.tools, table.pointee.run_tool != nil else {
                throw PluginLoadError(path: path, problem: .badDescription("a tool plugin needs ABI 1.2's 'tools' and 'run_tool'"))
            }
            do {
                tools = try ToolDescription.list(Array(String(cString: text).utf8))
            } catch {
                throw PluginLoadError(path: path, problem: .badDescription(error.description))
            }
            guard !tools.isEmpty else { throw PluginLoadError(path: path, problem: .badDescription("a tool plugin with no tools")) }
            provides = tools.map(\.name)
        }
        if let problem = PluginDescription.problem(name: name, version: version, provides: provides) {
            throw PluginLoadError(path: path, problem: .badDescription(problem))
        }
        var keyHeader: String?
        var flags: UInt64 = 0
        if Int(table.pointee.struct_size) >= tableSizeWithKeyHeader {
            flags = table.pointee.flags
            if let pointer = table.pointee.key_header {
                let header = String(cString: pointer).lowercased()
                if let problem = keyHeaderProblem(header) { throw PluginLoadError(path: path, problem: .badDescription(problem)) }
                keyHeader = header
            }
        }
        return PluginLibrary(path: path, table: table, name: name, version: version, kind: kind, provides: provides,
                             keyHeader: keyHeader, flags: flags, tools: tools)
    }

    /// Why `header` cannot carry a provider key, or nil when it can: a token of letters, digits and
    /// '-', not one the host owns.
    static func keyHeaderProblem(_ header: String) -> String? {
        guard !header.isEmpty, header.utf8.count <= keyHeaderBytesMax,
              header.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d })
        else { return "key_header must be 1 to \(keyHeaderBytesMax) letters, digits or '-'" }
        guard !keyHeadersRefused.contains(header) else { return "key_header '\(header)' is a header the host sets" }
        return nil
    }

    /// What the library says of itself (the manifest recorded at install).
    public var description: PluginDescription {
        PluginDescription(name: name, version: version, kind: kind == AEX_PLUGIN_KIND_TOOL ? .tool : .provider,
                          abiMajor: Int(table.pointee.abi_major), abiMinor: Int(table.pointee.abi_minor), provides: provides,
                          streams: translateStreamEvent != nil, tools: tools)
    }
}
