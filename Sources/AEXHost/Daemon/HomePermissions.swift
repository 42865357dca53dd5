import Glibc

/// Who may touch the installation's private files. `AEX_HOME` must be 0700 and the secrets in it
/// (`admin.token`, `.env`, the database and its `-wal`/`-shm`, `daemon.json`) closed to group and
/// others. `aex doctor` reports each of these; `aex daemon start` warns about them (and starts).
public enum HomePermissions {
    /// What `stat` said about one path: nil mode when it does not exist.
    public struct Observed: Sendable, Equatable {
        public var path: String
        public var mode: mode_t?

        public init(path: String, mode: mode_t?) {
            self.path = path
            self.mode = mode
        }

        /// `lstat` of `path`; a symbolic link is judged by its own mode, never followed.
        public static func of(_ path: String) -> Observed {
            var status = stat()
            return Observed(path: path, mode: lstat(path, &status) == 0 ? status.st_mode : nil)
        }
    }

    /// A permission problem: what is wrong and the command that fixes it.
    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var problem: String
        public var fix: String

        public var description: String { "\(problem) — fix: \(fix)" }
    }

    /// `AEX_HOME`: a directory with no group or other permission bits.
    public static func home(_ observed: Observed) -> Finding? {
        guard let mode = observed.mode else {
            return Finding(path: observed.path, problem: "\(observed.path) does not exist", fix: "aex init")
        }
        guard mode & S_IFMT == S_IFDIR else {
            return Finding(path: observed.path, problem: "\(observed.path) is not a directory", fix: "move it away, then aex init")
        }
        guard mode & 0o077 == 0 else {
            return Finding(
                path: observed.path, problem: "\(observed.path) is accessible by group or others (mode \(octal(mode)))",
                fix: "chmod 700 \(observed.path)")
        }
        return nil
    }

    /// A private file: a regular file with no group or other permission bits. `required` files
    /// (`admin.token`) must exist; the others are fine when absent.
    public static func privateFile(_ observed: Observed, required: Bool = false) -> Finding? {
        guard let mode = observed.mode else {
            return required ? Finding(path: observed.path, problem: "\(observed.path) does not exist", fix: "aex init") : nil
        }
        if let kind = ConfigFile.nonRegularKind(mode: mode) {
            return Finding(
                path: observed.path, problem: "\(observed.path) is not a regular file (it is \(kind))",
                fix: "remove it and put a regular file in its place")
        }
        guard mode & 0o077 == 0 else {
            return Finding(
                path: observed.path, problem: "\(observed.path) is readable or writable by group or others (mode \(octal(mode)))",
                fix: "chmod 600 \(observed.path)")
        }
        return nil
    }

    /// The database files that exist: `aex.db`, `aex.db-wal`, `aex.db-shm`.
    public static func databaseFiles(_ home: AEXHome) -> [String] {
        [home.databasePath, home.databasePath + "-wal", home.databasePath + "-shm"]
    }

    /// Every finding for `home`, read now: what the daemon warns about at start.
    public static func findings(_ home: AEXHome) -> [Finding] {
        var findings: [Finding] = []
        if let finding = Self.home(.of(home.root)) { findings.append(finding) }
        let files = [home.adminTokenPath, home.envFilePath, home.daemonStatePath] + databaseFiles(home)
        findings += files.compactMap { privateFile(.of($0)) }
        return findings
    }

    /// `0755` for a mode's permission bits.
    public static func octal(_ mode: mode_t) -> String {
        let text = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - text.count)) + text
    }
}
