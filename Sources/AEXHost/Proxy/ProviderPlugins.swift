import AEXPluginAPI
import Foundation

/// The provider plugins the daemon serves with, by provider type. Loaded once at start from the
/// folder of the `aex` executable (the plugins built with AEX) and never unloaded.
public final class ProviderPlugins: @unchecked Sendable {
    /// File names of the plugins built with AEX.
    public static let builtInFileNames = ["libAEXOpenAICompatible.so", "libaex-echo.so"]

    public let byType: [String: PluginLibrary]
    public let failures: [PluginLoadError]

    public init(libraries: [PluginLibrary], failures: [PluginLoadError] = []) {
        var byType: [String: PluginLibrary] = [:]
        for library in libraries where library.kind == AEX_PLUGIN_KIND_PROVIDER {
            for type in library.provides where byType[type] == nil { byType[type] = library }
        }
        self.byType = byType
        self.failures = failures
    }

    /// Loads every built-in plugin found in `directory`; a library that fails is reported, not fatal.
    public static func loadBuiltIn(directory: String) -> ProviderPlugins {
        var libraries: [PluginLibrary] = []
        var failures: [PluginLoadError] = []
        for file in builtInFileNames {
            let path = directory + "/" + file
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do {
                libraries.append(try PluginLibrary.load(path: path, host: PluginHostTable.shared))
            } catch {
                failures.append(error)
            }
        }
        return ProviderPlugins(libraries: libraries, failures: failures)
    }

    public var types: Set<String> { Set(byType.keys) }

    /// The folder of the running executable.
    public static func executableDirectory() -> String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (path as NSString).deletingLastPathComponent
    }
}
