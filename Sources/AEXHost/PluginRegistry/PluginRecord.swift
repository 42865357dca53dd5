import Foundation

/// One row of `tool_plugins`: a plugin AEX knows, where its library is, and what it said of itself.
public struct PluginRecord: Sendable, Equatable {
    public var description: PluginDescription
    /// The library AEX loads (beside the binary for a bundled plugin, in `AEX_HOME/plugins`
    /// otherwise); loaded only from here.
    public var path: String
    /// Of the library at `path` when it was recorded; checked at every load.
    public var sha256: String
    public var enabled: Bool
    /// Built with AEX: as trusted as the binary, re-recorded when a rebuild changed it.
    public var bundled: Bool
    public var installedAtMicros: Int64

    public var name: String { description.name }

    /// What `aex plugin list --json` and `GET /admin/plugins` show.
    public var json: JSONValue {
        .object([
            "name": .string(name), "version": .string(description.version), "kind": .string(description.kind.rawValue),
            "abi": .string(description.abi), "path": .string(path), "sha256": .string(sha256), "enabled": .bool(enabled),
            "provides": .array(description.provides.map { .string($0) }), "bundled": .bool(bundled),
            "installed_at": .string(WallClock.iso8601(micros: installedAtMicros)),
        ])
    }

    /// `inspect`: the record, its manifest, and whether the file still has the recorded SHA-256.
    public var inspection: JSONValue {
        guard case .object(var object) = json else { return json }
        object["manifest"] = description.json
        object["file_matches"] = .bool(fileMatches)
        return .object(object)
    }

    /// The library at `path` still has the recorded SHA-256.
    public var fileMatches: Bool { (try? PluginFiles.sha256(of: path)) == sha256 }

    public static func decode(_ value: JSONValue) throws(ConfigurationError) -> PluginRecord {
        guard case .object(let object) = value, case .string(let path)? = object["path"], case .string(let sha)? = object["sha256"],
              case .bool(let enabled)? = object["enabled"], let manifest = object["manifest"] ?? Optional(value)
        else { throw ConfigurationError("an unreadable plugin record") }
        var bundled = false
        if case .bool(let flag)? = object["bundled"] { bundled = flag }
        return PluginRecord(description: try PluginDescription(json: manifest), path: path, sha256: sha, enabled: enabled,
                            bundled: bundled, installedAtMicros: 0)
    }
}
