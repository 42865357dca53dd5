import Glibc

/// The home's single-writer lock (`flock` on `aex.lock`). The daemon holds it for its whole life;
/// the CLI holds it while it changes the database itself. The kernel drops it if the holder dies.
public final class WriterLock {
    private var fd: Int32

    private init(fd: Int32) { self.fd = fd }

    deinit { release() }

    /// Takes the lock, retrying every 20 ms for up to `waitMilliseconds`; nil when it stays held.
    public static func tryAcquire(_ home: AEXHome, waitMilliseconds: Int = 0) throws -> WriterLock? {
        let fd = open(home.writerLockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.last("opening \(home.writerLockPath)") }
        var waitedMilliseconds = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, waitedMilliseconds < waitMilliseconds else {
                close(fd)
                return nil
            }
            usleep(20_000)
            waitedMilliseconds += 20
        }
        return WriterLock(fd: fd)
    }

    public static func acquire(_ home: AEXHome, waitMilliseconds: Int) throws -> WriterLock {
        guard let lock = try tryAcquire(home, waitMilliseconds: waitMilliseconds) else {
            throw ConfigurationError("another aex process is writing \(home.root) (its lock is held); try again")
        }
        return lock
    }

    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }
}
