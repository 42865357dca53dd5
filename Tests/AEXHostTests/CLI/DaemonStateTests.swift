import Foundation
import Glibc
import Testing
@testable import AEXHost

@Suite struct DaemonStateTests {
    /// Whatever the umask (a test process usually has 022, which made the old file 0644).
    @Test func writtenWithMode0600() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/daemon.json"
        let state = DaemonState(pid: 42, host: "127.0.0.1", port: 9000, startedAt: "2024-01-01T00:00:00Z")
        try state.write(to: path)
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(DaemonState.read(from: path) == state)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        try DaemonState(pid: 43, host: "127.0.0.1", port: 9001, startedAt: "b").write(to: path)
        #expect(DaemonState.read(from: path)?.pid == 43)
    }

    @Test func aFIFOInPlaceOfDaemonJSONIsNotWaitedFor() {
        let directory = TemporaryDirectory()
        let path = directory.path + "/daemon.json"
        #expect(mkfifo(path, 0o600) == 0)
        #expect(DaemonState.read(from: path) == nil)
    }
}
