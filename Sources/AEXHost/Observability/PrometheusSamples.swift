/// Reads the samples back from the Prometheus text format (for `aex metrics`): one per line that is
/// not a comment, `name{label="value",...} number`. Pure.
public struct PrometheusSample: Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    public var value: Double

    public static func parse(_ text: String) -> [PrometheusSample] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " ") else { return nil }
            let series = line[..<space]
            let valueText = line[line.index(after: space)...]
            guard let value = valueText == "+Inf" ? Double.infinity : Double(valueText) else { return nil }
            guard let brace = series.firstIndex(of: "{") else { return PrometheusSample(name: String(series), labels: [:], value: value) }
            return PrometheusSample(name: String(series[..<brace]), labels: labels(series[series.index(after: brace)...].dropLast()), value: value)
        }
    }

    /// `a="x",b="y \"q\""` → ["a": "x", "b": "y \"q\""].
    private static func labels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        var index = text.startIndex
        while index < text.endIndex {
            guard let equals = text[index...].firstIndex(of: "=") else { break }
            let key = String(text[index..<equals])
            var value = ""
            var cursor = text.index(equals, offsetBy: 2, limitedBy: text.endIndex) ?? text.endIndex
            while cursor < text.endIndex, text[cursor] != "\"" {
                if text[cursor] == "\\", text.index(after: cursor) < text.endIndex {
                    cursor = text.index(after: cursor)
                    value.append(text[cursor] == "n" ? "\n" : text[cursor])
                } else {
                    value.append(text[cursor])
                }
                cursor = text.index(after: cursor)
            }
            labels[key] = value
            index = text.index(cursor, offsetBy: 2, limitedBy: text.endIndex) ?? text.endIndex  // past `",`
        }
        return labels
    }
}
