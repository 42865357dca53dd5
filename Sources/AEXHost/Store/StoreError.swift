/// Failures of the store that are not plain SQLite errors.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    case schemaTooNew(found: Int, supported: Int)
    case writerStopped
    case migrationFailed(String)

    public var description: String {
        switch self {
        case .schemaTooNew(let found, let supported):
            return "database schema version \(found) is newer than this aex supports (\(supported)); upgrade aex"
        case .writerStopped:
            return "the database writer has stopped"
        case .migrationFailed(let reason):
            return "the database could not be upgraded: \(reason)"
        }
    }
}
