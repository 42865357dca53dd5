import AEXPluginAPI
import Synchronization

/// The provider plugins the daemon serves with, by provider type: the enabled ones of the plugin
/// registry, loaded at start and changed at once by `aex plugin enable|disable|install|remove`.
///
/// `types` are the provider types `models.yaml` may name: those of every enabled provider plugin,
/// including one whose library failed to load (its models then answer 503
/// `provider_not_configured` instead of keeping the daemon from starting). Libraries are never
/// unloaded: a call holds its `PluginLibrary` and finishes on the code it started with.
public final class ProviderPlugins: Sendable {
    private struct State {
        var byType: [String: PluginLibrary] = [:]
        var types: Set<String> = []
    }

    private let state: Mutex<State>

    /// `libraries` loaded; `enabledTypes` the provider types of every enabled provider plugin.
    public init(libraries: [PluginLibrary], enabledTypes: Set<String>? = nil) {
        var initial = State()
        for library in libraries where library.kind == AEX_PLUGIN_KIND_PROVIDER {
            for type in library.provides where initial.byType[type] == nil { initial.byType[type] = library }
        }
        initial.types = enabledTypes ?? Set(initial.byType.keys)
        state = Mutex(initial)
    }

    /// The library serving `type` now, if one is loaded.
    public func library(forType type: String) -> PluginLibrary? { state.withLock { $0.byType[type] } }

    /// The provider types `models.yaml` may name.
    public var types: Set<String> { state.withLock { $0.types } }

    /// Serves the library's provider types with it (a newer version replaces the older one).
    public func activate(_ library: PluginLibrary) {
        guard library.kind == AEX_PLUGIN_KIND_PROVIDER else { return }
        state.withLock { state in
            for type in library.provides {
                state.byType[type] = library
                state.types.insert(type)
            }
        }
    }

    /// Stops serving `types` (a plugin disabled or removed).
    public func deactivate(types: [String]) {
        state.withLock { state in
            for type in types {
                state.byType[type] = nil
                state.types.remove(type)
            }
        }
    }
}
