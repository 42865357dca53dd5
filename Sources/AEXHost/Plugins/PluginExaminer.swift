import Foundation
import Glibc

/// Examines a library before it is installed or registered, without loading it here: a short-lived
/// child (`aex` run as `childCommand PATH`) opens it, checks it like `PluginLibrary.load`, and prints
/// its self-description. Its constructors run in that child only — never in the daemon or the CLI
/// — so a library that crashes or hangs while loading fails the examination, not this process.
///
/// The child puts itself in its own process group and sets an alarm; the parent also kills the
/// whole group after `timeoutMilliseconds`, so nothing the library started is left running.
public struct PluginExaminer: Sendable {
    /// The hidden command the child runs (not listed by `aex --help`).
    public static let childCommand = "__examine-plugin"
    public static let timeoutMillisecondsDefault = 5_000
    /// The child's answer is a line of JSON; more than this is refused.
    static let answerBytesMax = 64 * 1024

    /// The `aex` executable the child runs.
    public let executable: String
    public let timeoutMilliseconds: Int

    public init(executable: String = PluginExaminer.runningExecutable(), timeoutMilliseconds: Int = PluginExaminer.timeoutMillisecondsDefault) {
        self.executable = executable
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// The running executable's path.
    public static func runningExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The library's self-description, or why it is refused (the error names `path`).
    public func examine(_ path: String) throws(PluginLoadError) -> PluginDescription {
        try Self.requireELFSharedLibrary(path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [Self.childCommand, path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw PluginLoadError(path: path, problem: .cannotOpen("the examining process could not start: \(error)"))
        }
        let pid = process.processIdentifier
        let deadline = WallClock.monotonicMillis() + Int64(timeoutMilliseconds)
        while process.isRunning, WallClock.monotonicMillis() < deadline { usleep(5_000) }
        let hung = process.isRunning
        // The group first (whatever the library started), then the child itself.
        kill(-pid, SIGKILL)
        if hung { kill(pid, SIGKILL) }
        process.waitUntilExit()
        if hung {
            throw PluginLoadError(path: path, problem: .cannotOpen("did not finish loading within \(timeoutMilliseconds) ms (it hung while examined)"))
        }
        if process.terminationReason == .uncaughtSignal {
            throw PluginLoadError(path: path, problem: .cannotOpen("crashed while examined (signal \(process.terminationStatus))"))
        }
        let answer = Self.readAvailable(output.fileHandleForReading.fileDescriptor)
        guard case .object(let object)? = try? JSONReader.parse(answer) else {
            throw PluginLoadError(path: path, problem: .cannotOpen("the examining process gave no answer (exit \(process.terminationStatus))"))
        }
        if case .string(let refusal)? = object["refused"] { throw PluginLoadError(path: path, problem: .examination(refusal)) }
        guard let manifest = object["manifest"], let description = try? PluginDescription(json: manifest) else {
            throw PluginLoadError(path: path, problem: .cannotOpen("the examining process gave an unreadable answer"))
        }
        return description
    }

    /// ELF magic and type `ET_DYN`, read from the first bytes (nothing is loaded).
    static func requireELFSharedLibrary(_ path: String) throws(PluginLoadError) {
        var status = stat()
        guard stat(path, &status) == 0 else { throw PluginLoadError(path: path, problem: .cannotOpen("no such file")) }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw PluginLoadError(path: path, problem: .cannotOpen("not a regular file")) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PluginLoadError(path: path, problem: .cannotOpen(String(cString: strerror(errno)))) }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 18)
        let count = read(fd, &header, header.count)
        let isELF = count == header.count && header[0...3].elementsEqual([0x7f, 0x45, 0x4c, 0x46])
        let type = header[5] == 2 ? UInt16(header[16]) << 8 | UInt16(header[17]) : UInt16(header[17]) << 8 | UInt16(header[16])
        guard isELF, type == 3 else { throw PluginLoadError(path: path, problem: .notSharedLibrary) }
    }

    private static func readAvailable(_ fd: Int32) -> [UInt8] {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while answer.count < answerBytesMax {
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            answer += buffer[0..<count]
        }
        return answer
    }

    // MARK: The child

    /// In the child: loads the library, prints `{"manifest": …}` or `{"refused": "…"}`, exits.
    public static func runChild(_ arguments: [String]) -> Int32 {
        setpgid(0, 0)
        alarm(UInt32(max(1, timeoutMillisecondsDefault / 1_000)))
        guard arguments.count == 2 else { return 2 }
        let answer: JSONValue
        do {
            let library = try PluginLibrary.load(path: arguments[1], host: PluginHostTable.shared)
            answer = .object(["manifest": library.description.json])
        } catch {
            answer = .object(["refused": .string(error.reason)])
        }
        let line = Array((answer.canonicalText + "\n").utf8)
        _ = line.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        return 0
    }
}
