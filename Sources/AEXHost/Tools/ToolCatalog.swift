import Synchronization

/// The tools agents may call now: those of the enabled tool plugins, by name, with the library
/// that runs them (its recorded path and SHA-256, checked again by the worker that loads it).
/// Swapped whole when a tool plugin is enabled, disabled, installed or removed, so a disabled
/// plugin's tools leave `GET /v1/tools` and `/v1/tools/execute` at once.
public final class ToolCatalog: Sendable {
    public struct Entry: Sendable, Equatable {
        public var tool: ToolDescription
        public var pluginName: String
        public var pluginPath: String
        public var sha256: String
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    public func entry(named name: String) -> Entry? { entries.withLock { $0[name] } }

    /// Every tool, sorted by name.
    public var all: [Entry] { entries.withLock { $0.values.sorted { $0.tool.name < $1.tool.name } } }

    /// Serves `plugin`'s tools from `path` (replacing an older version's).
    public func add(plugin: String, tools: [ToolDescription], path: String, sha256: String) {
        entries.withLock { entries in
            for (name, entry) in entries where entry.pluginName == plugin { entries[name] = nil }
            for tool in tools { entries[tool.name] = Entry(tool: tool, pluginName: plugin, pluginPath: path, sha256: sha256) }
        }
    }

    public func remove(plugin: String) {
        entries.withLock { entries in
            for (name, entry) in entries where entry.pluginName == plugin { entries[name] = nil }
        }
    }
}
