/// Writes the Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` once per family, then
/// its samples, label values escaped (`\\`, `"`, newline).
public struct PrometheusText {
    public enum Kind: String { case counter, gauge, histogram }

    public private(set) var text = ""

    public init() {
        text.reserveCapacity(64 * 1024)
    }

    public mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Int64) {
        line(name, labels, String(value))
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        line(name, labels, Self.format(value))
    }

    public mutating func sample(_ name: String, _ value: Int64) { line(name, [], String(value)) }

    public mutating func sample(_ name: String, _ value: Double) { line(name, [], Self.format(value)) }

    /// A histogram's `_bucket` (cumulative, with `+Inf`), `_sum` and `_count` samples.
    public mutating func histogram(_ name: String, _ labels: [(String, String)], _ histogram: Histogram) {
        var cumulative: Int64 = 0
        for (index, bound) in Histogram.boundsSeconds.enumerated() {
            cumulative += histogram.bucketCounts[index]
            line(name + "_bucket", labels + [("le", Self.format(bound))], String(cumulative))
        }
        line(name + "_bucket", labels + [("le", "+Inf")], String(histogram.count))
        line(name + "_sum", labels, Self.format(histogram.sumSeconds))
        line(name + "_count", labels, String(histogram.count))
    }

    private mutating func line(_ name: String, _ labels: [(String, String)], _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{"
            for (index, (key, labelValue)) in labels.enumerated() {
                if index > 0 { text += "," }
                text += key + "=\"" + Self.escape(labelValue) + "\""
            }
            text += "}"
        }
        text += " " + value + "\n"
    }

    static func escape(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x5c || $0 == 0x22 || $0 == 0x0a }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
