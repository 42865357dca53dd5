import Foundation
import Glibc
import Testing
@testable import AEXHost

@Suite struct DaemonStateTests {
    @Test func aFIFOInPlaceOfDaemonJSONIsNotWaitedFor() {
        let directory = TemporaryDirectory()
        let path = directory.path + "/daemon.json"
        #expect(mkfifo(path, 0o600) == 0)
        #expect(DaemonState.read(from: path) == nil)
    }
}
