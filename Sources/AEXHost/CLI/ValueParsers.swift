/// Parsers for command-line values. Each throws a `UsageError` naming the option.
public enum ValueParsers {
    public static func money(_ text: String, _ what: String) throws(UsageError) -> MicroUSD {
        do {
            return try MoneyFormat.parseUSD(text)
        } catch {
            throw UsageError("\(what) '\(text)': \(error)")
        }
    }

    /// A whole number ≥ `minimum`, digits only.
    public static func integer(_ text: String, _ what: String, minimum: Int64 = 1) throws(UsageError) -> Int64 {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int64(text) else {
            throw UsageError("\(what) must be a whole number, got '\(text)'")
        }
        guard value >= minimum else { throw UsageError("\(what) must be at least \(minimum), got '\(text)'") }
        return value
    }

    /// `90s`, `30m`, `12h`, `7d` → seconds.
    public static func durationSeconds(_ text: String, _ what: String) throws(UsageError) -> Int64 {
        guard let unit = text.last else { throw UsageError("\(what) is empty") }
        let multiplier: Int64
        switch unit {
        case "s": multiplier = 1
        case "m": multiplier = 60
        case "h": multiplier = 3_600
        case "d": multiplier = 86_400
        default: throw UsageError("\(what) '\(text)' must be a whole number followed by s, m, h or d (e.g. 30m)")
        }
        let count = try integer(String(text.dropLast()), what)
        let (seconds, overflow) = count.multipliedReportingOverflow(by: multiplier)
        guard !overflow, seconds <= 100 * 365 * 86_400 else { throw UsageError("\(what) '\(text)' is too long") }
        return seconds
    }

    /// `a,b,c` → ["a", "b", "c"]; empty items are refused.
    public static func list(_ text: String, _ what: String) throws(UsageError) -> [String] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: " ") }
        guard !items.contains(where: \.isEmpty) else { throw UsageError("\(what) '\(text)' has an empty name") }
        return items
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
