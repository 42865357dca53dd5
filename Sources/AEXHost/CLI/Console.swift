import Glibc

/// Writes to stdout and stderr with `write(2)` (Swift 6 cannot touch C's stdio globals).
public enum Console {
    public static func out(_ text: String) { write(1, text.hasSuffix("\n") ? text : text + "\n") }
    public static func err(_ text: String) { write(2, text.hasSuffix("\n") ? text : text + "\n") }

    private static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
        bytes.removeAll()
    }

    /// Left-aligned columns separated by two spaces.
    public static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.padding(to: widths[index]) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
