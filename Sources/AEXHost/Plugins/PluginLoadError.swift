import AEXPluginAPI

/// Why a library is not accepted as a plugin. The description names the path and the problem.
public struct PluginLoadError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Problem: Sendable, Equatable {
        case cannotOpen(String)
        case missingEntryPoint
        case refusedHost
        case wrongABIMajor(found: Int, expected: Int)
        case newerABIMinor(found: Int, host: Int)
        case truncatedTable(size: Int, expected: Int)
        case badDescription(String)
        case checksumMismatch
        case notSharedLibrary
        /// The examining child refused it (its reason, without the path).
        case examination(String)
    }

    public let path: String
    public let problem: Problem

    /// The problem alone, without the path.
    public var reason: String {
        switch problem {
        case .cannotOpen(let detail): "cannot be opened: \(detail)"
        case .missingEntryPoint: "has no entry point '\(PluginLibrary.entrySymbol)'"
        case .refusedHost: "refused this host (its entry point returned no table)"
        case .wrongABIMajor(let found, let expected): "is built for plugin ABI \(found).x; this host speaks \(expected).x"
        case .newerABIMinor(let found, let host):
            "is built for plugin ABI \(AEX_PLUGIN_ABI_MAJOR).\(found), newer than this host's \(AEX_PLUGIN_ABI_MAJOR).\(host)"
        case .truncatedTable(let size, let expected): "has a truncated plugin table (\(size) bytes, at least \(expected) expected)"
        case .badDescription(let detail): "has an invalid self-description: \(detail)"
        case .checksumMismatch: "does not match its recorded SHA-256"
        case .notSharedLibrary: "is not an ELF shared library"
        case .examination(let reason): reason
        }
    }

    public var description: String { "plugin \(path) \(reason)" }
}
