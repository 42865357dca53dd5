import Foundation
import Glibc

/// `aex init`: creates the home, its folders, the default configuration, the schema and the admin
/// token. Idempotent: it never overwrites an existing file.
public enum HomeInitializer {
    public struct Outcome: Sendable {
        public var created: [String] = []
        public var kept: [String] = []
        /// Bundled plugin libraries that could not be registered, with the reason.
        public var pluginFailures: [String] = []
    }

    public static let defaultModelsConfig = """
    # AEX providers and models (SPEC section 6). Edit, then run `aex models reload`.
    version: 1
    default_model: echo-1
    providers:
      echo:
        base_url: local://echo
        type: echo              # offline demo provider: answers locally, no key, no network
      openai:
        base_url: https://api.openai.com/v1
        type: openai_compatible
        api_key_env: OPENAI_API_KEY
        timeout_seconds: 60
    models:
      echo-1:
        provider: echo
        provider_model: echo-1
        pricing:
          input_micro: 1
          output_micro: 2
        limits:
          max_tokens: 4096
        capabilities:
          tools: false
          vision: false
      gpt-4o-mini:
        provider: openai
        provider_model: gpt-4o-mini
        pricing:
          input_usd_per_mtok: "0.15"
          output_usd_per_mtok: "0.60"
        limits:
          max_tokens: 16384
        capabilities:
          tools: true
          vision: true

    """

    public static let defaultEnvFile = """
    # Provider API keys, NAME=value, one per line. The process environment overrides this file.
    # OPENAI_API_KEY=

    """

    public static func initialize(_ home: AEXHome) throws -> Outcome {
        var outcome = Outcome()
        for directory in [home.root, home.configDirectory, home.pluginsDirectory, home.logsDirectory] {
            if try createPrivateDirectory(directory) { outcome.created.append(directory) }
        }
        try writeIfMissing(home.modelsConfigPath, defaultModelsConfig, mode: 0o644, &outcome)
        try writeIfMissing(home.envFilePath, defaultEnvFile, mode: 0o600, &outcome)
        try writeIfMissing(home.adminTokenPath, Token.newAdminToken() + "\n", mode: 0o600, &outcome)
        let existed = FileManager.default.fileExists(atPath: home.databasePath)
        try withWriterLock(home) {
            let writer = try StoreWriter(path: home.databasePath)
            defer { writer.stop() }
            // The plugins built with AEX, registered (or re-recorded after a rebuild) with no flag.
            let plugins = PluginRegistry(writer: writer, pluginsDirectory: home.pluginsDirectory, examiner: PluginExaminer(),
                                         activation: LocalPluginActivation(modelsConfigPath: home.modelsConfigPath))
            outcome.pluginFailures = try plugins.registerBundled(directory: PluginRegistry.executableDirectory()).map(\.description)
        }
        if existed { outcome.kept.append(home.databasePath) } else { outcome.created.append(home.databasePath) }
        return outcome
    }

    /// Creates `path` with mode 0700 (its missing parents with the defaults) unless it exists; true
    /// when created. An existing directory keeps its mode: `aex doctor` and the daemon report a
    /// group- or world-accessible one instead of changing it behind the user's back.
    static func createPrivateDirectory(_ path: String) throws -> Bool {
        if FileManager.default.fileExists(atPath: path) { return false }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent) {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        guard mkdir(path, 0o700) == 0 else {
            if errno == EEXIST { return false }
            throw SystemError.last("creating \(path)")
        }
        guard chmod(path, 0o700) == 0 else { throw SystemError.last("setting the mode of \(path)") }
        return true
    }

    /// Runs `body` holding the home's writer lock, waiting up to `waitSeconds` for it.
    static func withWriterLock<T>(_ home: AEXHome, waitSeconds: Int = 10, _ body: () throws -> T) throws -> T {
        let lock = try WriterLock.acquire(home, waitMilliseconds: waitSeconds * 1_000)
        defer { lock.release() }
        return try body()
    }

    /// Creates `path` with `contents` and `mode` unless it exists; O_EXCL makes a race harmless.
    static func writeIfMissing(_ path: String, _ contents: String, mode: mode_t, _ outcome: inout Outcome) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if fd < 0 {
            if errno == EEXIST {
                outcome.kept.append(path)
                return
            }
            throw SystemError.last("creating \(path)")
        }
        defer { close(fd) }
        fchmod(fd, mode)
        let bytes = Array(contents.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw SystemError.last("writing \(path)")
        }
        outcome.created.append(path)
    }
}
