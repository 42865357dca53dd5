import Foundation
import Glibc
import Testing
@testable import AEXHost

@Suite struct ConfigFileTests {
    @Test func aFIFOIsRefusedAtOnceNamingThePath() throws {
        let directory = TemporaryDirectory()
        let fifo = directory.path + "/models.yaml"
        #expect(mkfifo(fifo, 0o600) == 0)
        // Before the fix, opening a FIFO nobody writes to blocked the reader forever.
        #expect(throws: ConfigFile.Failure.notRegular(path: fifo, kind: "a FIFO")) { try ConfigFile.read(fifo) }
        do {
            _ = try ModelsConfig.load(path: fifo, providerTypes: ["echo"])
            Issue.record("loaded a FIFO")
        } catch {
            #expect(error.file == fifo && error.line == 1 && error.column == 1)
            #expect(error.description == fifo + ":1:1: not a regular file (it is a FIFO); refusing to read it")
        }
        #expect(ConfigFile.Failure.notRegular(path: fifo, kind: "a FIFO").description == fifo + " is not a regular file (it is a FIFO); refusing to read it")
        #expect(throws: ConfigFile.Failure.notRegular(path: fifo, kind: "a FIFO")) { try ConfigFile.requireRegularIfPresent(fifo) }
    }

    @Test func devicesAndDirectoriesAreRefused() {
        #expect(throws: ConfigFile.Failure.notRegular(path: "/dev/zero", kind: "a character device")) { try ConfigFile.read("/dev/zero") }
        let directory = TemporaryDirectory()
        #expect(throws: ConfigFile.Failure.notRegular(path: directory.path, kind: "a directory")) { try ConfigFile.read(directory.path) }
    }

    @Test func regularFilesAreRead() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/.env"
        #expect(try ConfigFile.readTextIfPresent(path) == nil)
        #expect(throws: ConfigFile.Failure.missing(path: path)) { try ConfigFile.read(path) }
        try ConfigFile.requireRegularIfPresent(path)
        try "A=1\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try ConfigFile.readText(path) == "A=1\n")
        #expect(try ConfigFile.readTextIfPresent(path) == "A=1\n")
        try ConfigFile.requireRegularIfPresent(path)
        #expect(throws: ConfigFile.Failure.tooLarge(path: path, limit: 2)) { try ConfigFile.read(path, maxBytes: 2) }
    }

    @Test func kinds() {
        #expect(ConfigFile.nonRegularKind(mode: S_IFREG | 0o600) == nil)
        #expect(ConfigFile.nonRegularKind(mode: S_IFIFO | 0o600) == "a FIFO")
        #expect(ConfigFile.nonRegularKind(mode: S_IFBLK | 0o600) == "a block device")
        #expect(ConfigFile.nonRegularKind(mode: S_IFSOCK | 0o600) == "a socket")
    }
}
