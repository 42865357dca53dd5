/// A node of the YAML subset read by `YAMLSubsetParser`. Every node and mapping key carries the
/// 1-based position where it starts, so validation errors can point at the offending text.
public enum YAMLNode: Sendable, Equatable, CustomStringConvertible {
    /// A 1-based position in the source text (columns count Unicode scalars).
    public struct Mark: Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        public var column: Int

        public init(line: Int, column: Int) {
            self.line = line
            self.column = column
        }

        public var description: String { "\(line):\(column)" }
    }

    public typealias Entry = (key: String, keyMark: Mark, value: YAMLNode)

    /// A plain or quoted scalar, escapes resolved. An empty value (`key:` and nothing) is
    /// `.scalar("", quoted: false, _)`.
    case scalar(String, quoted: Bool, Mark)
    case sequence([YAMLNode], Mark)
    /// Entries in source order; keys are unique.
    case mapping([Entry], Mark)

    public var mark: Mark {
        switch self {
        case .scalar(_, _, let mark), .sequence(_, let mark), .mapping(_, let mark): return mark
        }
    }

    /// An unquoted empty scalar, `~` or `null`: YAML's null.
    public var isNull: Bool {
        if case .scalar(let text, quoted: false, _) = self { return text.isEmpty || text == "~" || text == "null" }
        return false
    }

    /// "a mapping", "a sequence", "a quoted string", "an empty value", "'text'" — for error messages.
    public var kindDescription: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .scalar(let text, let quoted, _):
            if quoted { return "the quoted string \"\(text)\"" }
            if isNull { return "an empty value" }
            return "'\(text)'"
        }
    }

    public var description: String {
        switch self {
        case .scalar(let text, let quoted, _): return quoted ? "\"\(text)\"" : text
        case .sequence(let items, _): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .mapping(let entries, _):
            return "{" + entries.map { "\($0.key): \($0.value.description)" }.joined(separator: ", ") + "}"
        }
    }

    public static func == (lhs: YAMLNode, rhs: YAMLNode) -> Bool {
        switch (lhs, rhs) {
        case let (.scalar(a, qa, ma), .scalar(b, qb, mb)): return a == b && qa == qb && ma == mb
        case let (.sequence(a, ma), .sequence(b, mb)): return a == b && ma == mb
        case let (.mapping(a, ma), .mapping(b, mb)):
            guard ma == mb, a.count == b.count else { return false }
            for (x, y) in zip(a, b) where x.key != y.key || x.keyMark != y.keyMark || x.value != y.value {
                return false
            }
            return true
        default: return false
        }
    }
}

// MARK: - Typed access for configuration validation

extension YAMLNode {
    /// The mapping's entries; `null` reads as an empty mapping when `nullIsEmpty`.
    func mappingEntries(_ what: String, file: String, nullIsEmpty: Bool = false) throws(YAMLError) -> [Entry] {
        if case .mapping(let entries, _) = self { return entries }
        if nullIsEmpty && isNull { return [] }
        throw YAMLError(file: file, at: mark, "\(what) must be a mapping, found \(kindDescription)")
    }

    /// The mapping's entries by key, after refusing any key not in `allowed`.
    func keyedMapping(
        _ what: String, allowed: [String], file: String, nullIsEmpty: Bool = false
    ) throws(YAMLError) -> [String: (keyMark: Mark, value: YAMLNode)] {
        var result: [String: (keyMark: Mark, value: YAMLNode)] = [:]
        for entry in try mappingEntries(what, file: file, nullIsEmpty: nullIsEmpty) {
            guard allowed.contains(entry.key) else {
                throw YAMLError(
                    file: file, at: entry.keyMark,
                    "unknown key '\(entry.key)' in \(what) (known keys: \(allowed.joined(separator: ", ")))")
            }
            result[entry.key] = (entry.keyMark, entry.value)
        }
        return result
    }

    /// A non-empty string scalar, plain or quoted.
    func string(_ what: String, file: String) throws(YAMLError) -> String {
        guard case .scalar(let text, _, _) = self, !isNull else {
            throw YAMLError(file: file, at: mark, "\(what) must be a string, found \(kindDescription)")
        }
        guard !text.isEmpty else { throw YAMLError(file: file, at: mark, "\(what) must not be empty") }
        return text
    }

    /// A plain (unquoted) decimal integer such as `42` or `-3`, without `+`, `_` or exponent.
    func integer(_ what: String, file: String) throws(YAMLError) -> Int64 {
        guard case .scalar(let text, quoted: false, _) = self, !isNull else {
            throw YAMLError(file: file, at: mark, "\(what) must be an integer, found \(kindDescription)")
        }
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }) else {
            throw YAMLError(file: file, at: mark, "\(what) must be an integer, found '\(text)'")
        }
        var value: Int64 = 0
        for scalar in digits.unicodeScalars {
            let digit = Int64(scalar.value - 48)
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            if o1 || o2 { throw YAMLError(file: file, at: mark, "\(what) is out of range: \(text)") }
            value = next
        }
        return value
    }

    /// A plain integer within `range`.
    func integer(_ what: String, in range: ClosedRange<Int64>, file: String) throws(YAMLError) -> Int64 {
        let value = try integer(what, file: file)
        guard range.contains(value) else {
            throw YAMLError(
                file: file, at: mark, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
        }
        return value
    }

    /// A plain `true` or `false`.
    func bool(_ what: String, file: String) throws(YAMLError) -> Bool {
        if case .scalar(let text, quoted: false, _) = self {
            if text == "true" { return true }
            if text == "false" { return false }
        }
        throw YAMLError(file: file, at: mark, "\(what) must be true or false, found \(kindDescription)")
    }
}
