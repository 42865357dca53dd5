/// Why a library is not accepted as a plugin. The description names the path and the problem.
public struct PluginLoadError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Problem: Sendable, Equatable {
        case cannotOpen(String)
        case missingEntryPoint
        case refusedHost
        case wrongABIMajor(found: Int, expected: Int)
        case truncatedTable(size: Int, expected: Int)
        case badDescription(String)
        case checksumMismatch
    }

    public let path: String
    public let problem: Problem

    public var description: String {
        let reason = switch problem {
        case .cannotOpen(let detail): "cannot be opened: \(detail)"
        case .missingEntryPoint: "has no entry point '\(PluginLibrary.entrySymbol)'"
        case .refusedHost: "refused this host (its entry point returned no table)"
        case .wrongABIMajor(let found, let expected): "is built for plugin ABI \(found).x; this host speaks \(expected).x"
        case .truncatedTable(let size, let expected): "has a truncated plugin table (\(size) bytes, at least \(expected) expected)"
        case .badDescription(let detail): "describes itself badly: \(detail)"
        case .checksumMismatch: "does not match its recorded SHA-256"
        }
        return "plugin \(path) \(reason)"
    }
}
