import Foundation
import Glibc
import Testing
@testable import AEXHost

@Suite struct WriterLockHolderTests {
    static let file = WriterLockHolder.FileID(major: 0xfe, minor: 0, inode: 16_220_635)

    @Test func procLocksNamesTheHoldersOfThatFileOnly() {
        let table = """
        1: FLOCK  ADVISORY  WRITE 4242 fe:00:16220635 0 EOF
        1: -> FLOCK  ADVISORY  WRITE 5151 fe:00:16220635 0 EOF
        2: FLOCK  ADVISORY  WRITE 777 fe:00:465 0 EOF
        3: FLOCK  ADVISORY  WRITE 778 fe:01:16220635 0 EOF
        4: POSIX  ADVISORY  WRITE 779 fe:00:16220635 0 EOF
        5: FLOCK  ADVISORY  READ 780 fe:00:16220635 0 EOF
        6: OFDLCK ADVISORY  WRITE -1 fe:00:16220635 0 EOF
        garbage
        """
        #expect(WriterLockHolder.holders(procLocks: table, of: Self.file) == [4242], "waiters, other files and other lock kinds hold nothing")
        #expect(WriterLockHolder.lockedFile("103:1a:99") == WriterLockHolder.FileID(major: 0x103, minor: 0x1a, inode: 99))
        #expect(WriterLockHolder.lockedFile("fe:00") == nil)
    }

    @Test func fdinfoLockLines() {
        #expect(WriterLockHolder.holdsExclusiveFlock(fdinfo: "pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t5\nlock:\t1: FLOCK  ADVISORY  WRITE 6298 fe:00:5 0 EOF\n"))
        #expect(!WriterLockHolder.holdsExclusiveFlock(fdinfo: "pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t5\n"))
        #expect(!WriterLockHolder.holdsExclusiveFlock(fdinfo: "lock:\t1: -> FLOCK  ADVISORY  WRITE 6298 fe:00:5 0 EOF\n"))
    }

    @Test func onlyTheProcessHoldingTheLockIsTheDaemon() throws {
        let directory = TemporaryDirectory()
        let home = AEXHome(root: directory.path)
        let me = getpid()
        #expect(!WriterLockHolder.holds(pid: me, home: home), "no lock file yet")
        let lock = try #require(try WriterLock.tryAcquire(home))
        #expect(WriterLockHolder.holds(pid: me, home: home))
        #expect(WriterLockHolder.holdsThroughOwnDescriptor(pid: me, lockFile: try #require(.of(path: home.writerLockPath))))
        #expect(!WriterLockHolder.holds(pid: getppid(), home: home))
        let state = DaemonState(pid: me, host: "127.0.0.1", port: 1, startedAt: "x")
        #expect(state.isDaemon(of: home))
        #expect(!DaemonState(pid: getppid(), host: "127.0.0.1", port: 1, startedAt: "x").isDaemon(of: home))
        lock.release()
        #expect(!WriterLockHolder.holds(pid: me, home: home))
        #expect(!state.isDaemon(of: home), "a pid that no longer holds the lock is a stale daemon.json's")
    }
}
