/// Loading a recorded plugin into this process: the file's SHA-256 is recomputed first, and a
/// library that no longer matches its record is refused (SPEC §11); then it is opened from its
/// recorded path only and must still describe itself as recorded.
public enum PluginLoading {
    public static func load(_ record: PluginRecord) throws(PluginLoadError) -> PluginLibrary {
        try verify(record)
        let library = try PluginLibrary.load(path: record.path, host: PluginHostTable.shared)
        guard library.name == record.name, library.provides == record.description.provides else {
            throw PluginLoadError(path: record.path, problem: .badDescription("it no longer describes itself as recorded"))
        }
        return library
    }

    /// The file at the recorded path has the recorded SHA-256.
    public static func verify(_ record: PluginRecord) throws(PluginLoadError) {
        let sha: String
        do {
            sha = try PluginFiles.sha256(of: record.path)
        } catch {
            throw PluginLoadError(path: record.path, problem: .cannotOpen(error.description))
        }
        guard sha == record.sha256 else { throw PluginLoadError(path: record.path, problem: .checksumMismatch) }
    }
}
