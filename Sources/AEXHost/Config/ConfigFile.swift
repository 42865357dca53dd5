import Glibc

/// Reads the small files AEX is configured by (`models.yaml`, `.env`, `admin.token`,
/// `daemon.json`). Only a regular file is read: the file is opened with `O_NONBLOCK`, so a FIFO
/// with no writer or a device cannot block the open, and anything `fstat` does not call a regular
/// file is refused at once, naming the path. Never follows the caller into an endless read.
public enum ConfigFile {
    public static let fileBytesMaxDefault = 4 << 20
    /// Bytes read per `read(2)` call.
    static let readChunkBytes = 64 * 1024

    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// The path does not exist.
        case missing(path: String)
        /// It exists but is a FIFO, device, socket or directory.
        case notRegular(path: String, kind: String)
        case unreadable(path: String, reason: String)
        case tooLarge(path: String, limit: Int)
        case notUTF8(path: String)

        public var path: String {
            switch self {
            case .missing(let path), .notRegular(let path, _), .unreadable(let path, _), .tooLarge(let path, _), .notUTF8(let path):
                return path
            }
        }

        /// The problem without the path, for errors that print the path themselves.
        public var reason: String {
            switch self {
            case .missing: return "the file does not exist"
            case .notRegular(_, let kind): return "not a regular file (it is \(kind)); refusing to read it"
            case .unreadable(_, let reason): return "cannot read the file: \(reason)"
            case .tooLarge(_, let limit): return "the file is larger than \(limit) bytes"
            case .notUTF8: return "the file is not valid UTF-8"
            }
        }

        public var description: String {
            switch self {
            case .notRegular(let path, let kind): return "\(path) is not a regular file (it is \(kind)); refusing to read it"
            default: return "\(path): \(reason)"
            }
        }
    }

    /// The whole file, if it is a regular file of at most `maxBytes`.
    public static func read(_ path: String, maxBytes: Int = fileBytesMaxDefault) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw .missing(path: path) }
            // A FIFO opened for reading never fails with ENXIO, but a socket or some devices do.
            if code == ENXIO || code == EOPNOTSUPP, let kind = kind(ofPath: path) { throw .notRegular(path: path, kind: kind) }
            throw .unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        if let kind = nonRegularKind(mode: status.st_mode) { throw .notRegular(path: path, kind: kind) }
        if status.st_size > maxBytes { throw .tooLarge(path: path, limit: maxBytes) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: Self.readChunkBytes)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maxBytes { throw .tooLarge(path: path, limit: maxBytes) }
        }
        return bytes
    }

    /// The whole file as UTF-8 text.
    public static func readText(_ path: String, maxBytes: Int = fileBytesMaxDefault) throws(Failure) -> String {
        let bytes = try read(path, maxBytes: maxBytes)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notUTF8(path: path) }
        return text
    }

    /// Like `readText`, but a missing file is nil (optional files such as `.env`).
    public static func readTextIfPresent(_ path: String, maxBytes: Int = fileBytesMaxDefault) throws(Failure) -> String? {
        do {
            return try readText(path, maxBytes: maxBytes)
        } catch .missing {
            return nil
        }
    }

    /// Fails only when `path` exists and is not a regular file (checked without opening it).
    public static func requireRegularIfPresent(_ path: String) throws(Failure) {
        var status = stat()
        guard stat(path, &status) == 0 else { return }
        if let kind = nonRegularKind(mode: status.st_mode) { throw .notRegular(path: path, kind: kind) }
    }

    /// nil for a regular file; otherwise what it is, for the message.
    public static func nonRegularKind(mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a directory"
        default: return "not a file"
        }
    }

    private static func kind(ofPath path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return nonRegularKind(mode: status.st_mode)
    }
}
