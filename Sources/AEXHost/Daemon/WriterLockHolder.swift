import Foundation
import Glibc

/// Proof that a process is this installation's daemon: it holds the `flock` on `AEX_HOME/aex.lock`
/// (a daemon holds it for its whole life). A pid read from `daemon.json` proves nothing by itself:
/// the file may be stale and the pid reused by any other process.
///
/// Linux lists the holders of every lock in `/proc/locks`, one line each:
/// `1: FLOCK  ADVISORY  WRITE 4242 fe:00:16220635 0 EOF` (pid, then the file's device as hex
/// major:minor and its inode); a waiter's line has `->` after the number and holds nothing.
/// Where a file system reports its device differently there, the holder's own
/// `/proc/PID/fdinfo/FD` (locks held through that open file) is asked instead.
public enum WriterLockHolder {
    /// Device and inode of a file, as `stat(2)` gives them.
    public struct FileID: Sendable, Equatable {
        public var major: UInt32
        public var minor: UInt32
        public var inode: UInt64

        public init(major: UInt32, minor: UInt32, inode: UInt64) {
            self.major = major
            self.minor = minor
            self.inode = inode
        }

        init(_ status: stat) {
            // glibc's encoding of dev_t (the gnu_dev_major/minor macros, not imported into Swift).
            let dev = UInt64(status.st_dev)
            let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
            let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
            self.init(major: UInt32(truncatingIfNeeded: major), minor: UInt32(truncatingIfNeeded: minor), inode: UInt64(status.st_ino))
        }

        /// Of the file at `path`, following links; nil if it does not exist.
        public static func of(path: String) -> FileID? {
            var status = stat()
            guard stat(path, &status) == 0 else { return nil }
            return FileID(status)
        }
    }

    /// True when `pid` holds the writer lock of `home`.
    public static func holds(pid: Int32, home: AEXHome) -> Bool {
        guard pid > 0, let lockFile = FileID.of(path: home.writerLockPath) else { return false }
        if let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8),
           holders(procLocks: table, of: lockFile).contains(pid) {
            return true
        }
        return holdsThroughOwnDescriptor(pid: pid, lockFile: lockFile)
    }

    /// The pids `/proc/locks` names as holding an exclusive `flock` on `file` (waiters excluded).
    public static func holders(procLocks table: String, of file: FileID) -> Set<Int32> {
        var pids = Set<Int32>()
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // "N:" FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END; a waiter has "->" after "N:".
            guard fields.count >= 6, fields[1] == "FLOCK", fields[3] == "WRITE",
                  let pid = Int32(fields[4]), lockedFile(fields[5]) == file
            else { continue }
            pids.insert(pid)
        }
        return pids
    }

    /// Parses `fe:00:16220635` (major and minor in hex, inode in decimal).
    static func lockedFile<S: StringProtocol>(_ text: S) -> FileID? {
        let parts = text.split(separator: ":")
        guard parts.count == 3, let major = UInt32(parts[0], radix: 16), let minor = UInt32(parts[1], radix: 16),
              let inode = UInt64(parts[2])
        else { return nil }
        return FileID(major: major, minor: minor, inode: inode)
    }

    /// True when one of `pid`'s descriptors is open on `lockFile` and holds an exclusive flock
    /// through it. Only readable for one's own processes, which a daemon of this user is.
    static func holdsThroughOwnDescriptor(pid: Int32, lockFile: FileID) -> Bool {
        let directory = "/proc/\(pid)/fd"
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
        for descriptor in descriptors {
            guard FileID.of(path: directory + "/" + descriptor) == lockFile,
                  let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(descriptor)", encoding: .utf8)
            else { continue }
            if holdsExclusiveFlock(fdinfo: info) { return true }
        }
        return false
    }

    /// Whether an fdinfo text lists a held (not awaited) exclusive flock: `lock:\t1: FLOCK  ADVISORY  WRITE …`.
    public static func holdsExclusiveFlock(fdinfo: String) -> Bool {
        fdinfo.split(separator: "\n").contains { line in
            guard line.hasPrefix("lock:") else { return false }
            let fields = line.dropFirst(5).split(whereSeparator: { $0 == " " || $0 == "\t" })
            return fields.count >= 4 && fields[1] == "FLOCK" && fields[3] == "WRITE"
        }
    }
}
