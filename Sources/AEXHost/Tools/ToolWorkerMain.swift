import AEXPluginAPI
import CLinux
import Foundation
import Glibc

/// A tool worker process: `aex __tool-worker PLUGIN_PATH SHA256 FOLDER MEMORY_BYTES CPU_SECONDS network|contained`,
/// started by the daemon (`ToolWorker`) with its socket pair as fd 3. Before any plugin code runs it
/// hardens itself (no new privileges, SIGKILL when the daemon dies, limits on memory, CPU time,
/// open files, file size and new processes) and moves into its private folder; then it checks the
/// library's SHA-256, loads it, and serves one call at a time until the daemon closes the socket.
public enum ToolWorkerMain {
    public static let command = "__tool-worker"
    static let channelFD: Int32 = 3
    static let openFilesMax: UInt64 = 64
    static let fileBytesMax: UInt64 = 16 * 1024 * 1024

    public static func run(_ arguments: [String]) -> Int32 {
        guard arguments.count == 7, let memory = UInt64(arguments[4]), let cpu = UInt64(arguments[5]) else { return 2 }
        let (path, sha, folder) = (arguments[1], arguments[2], arguments[3])
        guard aex_worker_harden(memory, cpu, openFilesMax, fileBytesMax, arguments[6] == "network" ? 0 : 1) == 0 else { return 3 }
        guard chdir(folder) == 0 else { return 3 }
        guard let data = FileManager.default.contents(atPath: path), SHA256.hex([UInt8](data)) == sha else { return 4 }
        guard let library = try? PluginLibrary.load(path: path, host: PluginHostTable.shared), let runTool = library.runTool else { return 5 }
        let limits = Dictionary(uniqueKeysWithValues: library.tools.map { ($0.name, $0.outputBytesMax) })
        while let request = readFrame() {
            let answer = serve(request, runTool: runTool, outputLimits: limits)
            guard writeAll(ToolFrames.encode(answer)) else { return 0 }
        }
        return 0
    }

    private static func serve(_ request: [UInt8], runTool: @convention(c) (UnsafePointer<aex_tool_call>?, OpaquePointer?) -> Int32,
                              outputLimits: [String: Int]) -> ToolFrames.Answer {
        guard case .object(let object)? = try? JSONReader.parse(request), case .string(let tool)? = object["tool"],
              let outputBytesMax = outputLimits[tool]
        else { return .failed("the worker got a request it cannot read") }
        let arguments = Array((object["arguments"] ?? .object([:])).canonicalText.utf8)
        let context = Array((object["context"] ?? .object([:])).canonicalText.utf8)
        let output = ProviderOutput()
        let status: Int32 = Array(tool.utf8).withUnsafeBufferPointer { name in
            arguments.withUnsafeBufferPointer { args in
                context.withUnsafeBufferPointer { ctx in
                    var call = aex_tool_call(
                        struct_size: UInt32(MemoryLayout<aex_tool_call>.size),
                        tool_name: aex_bytes(bytes: name.baseAddress, length: name.count),
                        arguments: aex_bytes(bytes: args.baseAddress, length: args.count),
                        context: aex_bytes(bytes: ctx.baseAddress, length: ctx.count))
                    return output.withPointer { pointer in runTool(&call, pointer) }
                }
            }
        }
        guard status == Int32(AEX_STATUS_OK.rawValue) else { return .failed(output.error ?? "the tool failed") }
        guard output.body.count <= outputBytesMax else {
            return .failed("the tool's output exceeded its limit of \(outputBytesMax) bytes")
        }
        guard let result = try? JSONReader.parse(output.body) else { return .failed("the tool's result is not JSON") }
        return .result(result, costMicro: output.costMicro)
    }

    private static func readFrame() -> [UInt8]? {
        guard let head = readExactly(4) else { return nil }
        let length = Int(head[0]) << 24 | Int(head[1]) << 16 | Int(head[2]) << 8 | Int(head[3])
        guard length <= ToolFrames.requestBytesMax else { return nil }
        return readExactly(length)
    }

    private static func readExactly(_ count: Int) -> [UInt8]? {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { read(channelFD, $0.baseAddress! + got, count - got) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return nil }
            got += n
        }
        return bytes
    }

    private static func writeAll(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(channelFD, $0.baseAddress! + sent, bytes.count - sent) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }
}
