import Glibc

/// Writes a file whole: a temporary file beside it (created exclusively, never through a link,
/// with `mode`), every byte written, optionally flushed to disk, then renamed over `path` — so a
/// reader, or a crash, sees the old file or the new one, never a part. With `durable`, the data
/// and the rename are both flushed (`fsync` of the file and of its folder).
public enum WholeFile {
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t, durable: Bool) throws(SystemError) {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw SystemError.last("creating \(temporary)") }
        var failure: SystemError?
        if fchmod(fd, mode) != 0 { failure = SystemError.last("setting the mode of \(temporary)") }
        var offset = 0
        while failure == nil, offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else {
                failure = SystemError.last("writing \(temporary)")
                break
            }
            offset += written
        }
        if failure == nil, durable, fsync(fd) != 0 { failure = SystemError.last("flushing \(temporary)") }
        if close(fd) != 0, failure == nil { failure = SystemError.last("closing \(temporary)") }
        if failure == nil, rename(temporary, path) != 0 { failure = SystemError.last("renaming \(temporary)") }
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard durable else { return }
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let folderFD = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderFD >= 0 {
            fsync(folderFD)
            close(folderFD)
        }
    }
}
