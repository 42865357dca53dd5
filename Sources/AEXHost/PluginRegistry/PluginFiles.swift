import Foundation
import Glibc

/// The plugin libraries on disk: their SHA-256, and installed copies written whole (`WholeFile`:
/// write, fsync, rename, fsync of the folder) so a crash leaves either the old file or the new one.
public enum PluginFiles {
    /// Libraries larger than this are refused.
    public static let libraryBytesMax = 256 * 1024 * 1024

    public static func read(_ path: String) throws(ConfigurationError) -> [UInt8] {
        var status = stat()
        guard stat(path, &status) == 0 else { throw ConfigurationError("no such file") }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw ConfigurationError("not a regular file") }
        guard Int(status.st_size) <= libraryBytesMax else { throw ConfigurationError("larger than \(libraryBytesMax) bytes") }
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigurationError("cannot be read") }
        return [UInt8](data)
    }

    public static func sha256(of path: String) throws(ConfigurationError) -> String { SHA256.hex(try read(path)) }

    /// Writes `bytes` to `path` whole and durably (see `WholeFile`), readable and executable by
    /// its owner only.
    static func writeWhole(_ bytes: [UInt8], to path: String) throws(ConfigurationError) {
        do {
            try WholeFile.write(bytes, to: path, mode: 0o700, durable: true)
        } catch {
            throw ConfigurationError("cannot write \(path): \(error)")
        }
    }
}
