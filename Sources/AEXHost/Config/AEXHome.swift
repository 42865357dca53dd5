import Foundation

/// The files of one AEX installation (SPEC section 2), under `AEX_HOME` (default `~/.aex`).
public struct AEXHome: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) -> AEXHome {
        if let explicit = environment["AEX_HOME"], !explicit.isEmpty { return AEXHome(root: explicit) }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return AEXHome(root: home + "/.aex")
    }

    public var databasePath: String { root + "/aex.db" }
    public var configDirectory: String { root + "/config" }
    public var modelsConfigPath: String { configDirectory + "/models.yaml" }
    public var toolsConfigPath: String { configDirectory + "/tools.yaml" }
    public var envFilePath: String { root + "/.env" }
    public var pluginsDirectory: String { root + "/plugins" }
    public var logsDirectory: String { root + "/logs" }
    public var daemonLogPath: String { logsDirectory + "/daemon.log" }
    public var daemonStatePath: String { root + "/daemon.json" }
    public var adminTokenPath: String { root + "/admin.token" }
    /// The most `admin.token` may hold (a token is 52 bytes).
    public static let adminTokenFileBytesMax = 4_096
    /// Held (flock) by whichever process writes the database: the daemon, or the CLI when no daemon runs.
    public var writerLockPath: String { root + "/aex.lock" }

    public var isInitialized: Bool {
        FileManager.default.fileExists(atPath: databasePath) && FileManager.default.fileExists(atPath: adminTokenPath)
    }
}
