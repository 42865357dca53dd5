import Foundation
import Glibc

/// This process's resources as `/proc/self` reports them (for `process_*` metrics).
public struct ProcessStats: Sendable {
    public var residentMemoryBytes: Int64
    public var cpuSeconds: Double
    public var openFileDescriptors: Int64

    public static func read() -> ProcessStats {
        var stats = ProcessStats(residentMemoryBytes: 0, cpuSeconds: 0, openFileDescriptors: 0)
        if let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = text.lastIndex(of: ")") {
            // Fields after the command: state (3) …; utime 14, stime 15, rss 24.
            let fields = text[text.index(after: close)...].split(separator: " ")
            let ticks = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
            if fields.count > 21, let user = Double(fields[11]), let system = Double(fields[12]), let rss = Int64(fields[21]) {
                stats.cpuSeconds = (user + system) / ticks
                stats.residentMemoryBytes = rss * Int64(sysconf(Int32(_SC_PAGESIZE)))
            }
        }
        stats.openFileDescriptors = Int64((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0)
        return stats
    }
}
