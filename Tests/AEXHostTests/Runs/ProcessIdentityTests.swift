import Foundation
import Glibc
import Testing
@testable import AEXHost

@Suite struct ProcessIdentityTests {
    @Test func aLiveProcessIsKnownByPidAndStartTime() throws {
        let me = try #require(ProcessIdentity.current(pid: getpid()))
        #expect(me.isAlive)
        #expect(ProcessIdentity(pid: me.pid, startTicks: me.startTicks + 1).isAlive == false, "another start time is another process")
        #expect(ProcessIdentity.current(pid: -1) == nil)
    }

    @Test func anExitedProcessIsGoneAndItsGroupIsNotSignalled() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["30"]
        try process.run()
        let child = try #require(ProcessIdentity.current(pid: process.processIdentifier))
        #expect(child.isAlive)
        process.terminate()
        process.waitUntilExit()
        #expect(child.isAlive == false)
        // Gone with nothing left in its group: nothing is signalled.
        #expect(ProcessGroup.signal(of: child, 0) == false)
    }
}
