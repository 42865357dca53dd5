import Foundation
import Glibc

/// The plugin libraries on disk: their SHA-256, and installed copies written whole (write, fsync,
/// rename, fsync of the folder) so a crash leaves either the old set of files or the new one.
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

    /// Writes `bytes` to `path` through a temporary file in the same folder.
    static func writeWhole(_ bytes: [UInt8], to path: String) throws(ConfigurationError) {
        let folder = (path as NSString).deletingLastPathComponent
        let temporary = folder + "/." + (path as NSString).lastPathComponent + ".partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o700)
        guard fd >= 0 else { throw ConfigurationError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        var failure: String?
        bytes.withUnsafeBytes { buffer in
            while written < buffer.count {
                let count = write(fd, buffer.baseAddress! + written, buffer.count - written)
                if count <= 0 {
                    failure = String(cString: strerror(errno))
                    return
                }
                written += count
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw ConfigurationError("cannot write \(path): \(failure)")
        }
        let folderFD = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderFD >= 0 {
            fsync(folderFD)
            close(folderFD)
        }
    }
}
