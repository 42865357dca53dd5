/// Reads the YAML subset that configuration files use, and rejects everything else with
/// `file:line:column: reason` (1-based; columns count Unicode scalars).
///
/// Accepted: block mappings; block sequences (`- item`, `- key: value` items, a sequence at the
/// same indentation as its key); flow sequences of scalars on one line (`[a, "b", 3]`); plain,
/// single-quoted (`''` escape) and double-quoted (`\" \\ \/ \n \t \r \uXXXX`) scalars on one line;
/// `#` comments (whole-line, or after whitespace); blank lines; one optional leading `---`.
///
/// Rejected: tabs in indentation, anchors `&`, aliases `*`, tags `!`, flow mappings `{`, block
/// scalars `|` `>`, directives `%`, complex keys `?`, multi-line scalars, multiple documents,
/// inconsistent indentation, duplicate keys, a key without `:`, unterminated quotes and flow
/// sequences, content after a quoted scalar or a flow sequence, control characters, nesting
/// deeper than `depthMax`.
public struct YAMLSubsetParser {
    public static let depthMax = 64

    private struct Line {
        /// 1-based line number in the file.
        let number: Int
        let text: [Unicode.Scalar]
        /// Count of leading spaces.
        let indent: Int
    }

    private enum Start {
        case sequenceEntry
        case mappingEntry(key: String, keyMark: YAMLNode.Mark, valueStart: Int)
        case value
    }

    private let file: String
    private var lines: [Line] = []
    private var index = 0
    private var depth = 0

    private init(file: String) { self.file = file }

    public static func parse(_ text: String, file: String) throws(YAMLError) -> YAMLNode {
        var parser = YAMLSubsetParser(file: file)
        try parser.readLines(text)
        return try parser.parseDocument()
    }

    // MARK: - Lines

    /// Splits the text into content lines, dropping blank and comment lines and the optional `---`.
    private mutating func readLines(_ text: String) throws(YAMLError) {
        var rawLines: [[Unicode.Scalar]] = [[]]
        for scalar in text.unicodeScalars {
            if scalar == "\n" { rawLines.append([]) } else { rawLines[rawLines.count - 1].append(scalar) }
        }
        if rawLines[0].first == "\u{FEFF}" { rawLines[0].removeFirst() }
        var sawDocumentStart = false
        for (offset, var text) in rawLines.enumerated() {
            let number = offset + 1
            if text.last == "\r" { text.removeLast() }
            for (column, scalar) in text.enumerated() where scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7F {
                throw YAMLError(
                    file: file, line: number, column: column + 1,
                    reason: "control character U+\(hex4(scalar.value)) is not allowed")
            }
            var indent = 0
            while indent < text.count && text[indent] == " " { indent += 1 }
            if indent < text.count && text[indent] == "\t" {
                var next = indent
                while next < text.count && Self.isSpace(text[next]) { next += 1 }
                if next == text.count || text[next] == "#" { continue }
                throw YAMLError(
                    file: file, line: number, column: indent + 1, reason: "tab characters are not allowed in indentation")
            }
            if indent == text.count || text[indent] == "#" { continue }
            if indent == 0 && Self.isMarker(text, "-") {
                guard lines.isEmpty && !sawDocumentStart else {
                    throw YAMLError(
                        file: file, line: number, column: 1, reason: "multiple documents ('---') are not supported")
                }
                if let extra = trailingContent(text, from: 3) {
                    throw YAMLError(
                        file: file, line: number, column: extra + 1,
                        reason: "content on the '---' line is not supported; start it on the next line")
                }
                sawDocumentStart = true
                continue
            }
            if indent == 0 && Self.isMarker(text, ".") {
                throw YAMLError(
                    file: file, line: number, column: 1,
                    reason: "document end markers ('...') and multiple documents are not supported")
            }
            lines.append(Line(number: number, text: text, indent: indent))
        }
    }

    /// `---` or `...` alone or followed by whitespace.
    private static func isMarker(_ text: [Unicode.Scalar], _ character: Unicode.Scalar) -> Bool {
        text.count >= 3 && text[0] == character && text[1] == character && text[2] == character
            && (text.count == 3 || isSpace(text[3]))
    }

    // MARK: - Structure

    private mutating func parseDocument() throws(YAMLError) -> YAMLNode {
        guard !lines.isEmpty else { return .scalar("", quoted: false, YAMLNode.Mark(line: 1, column: 1)) }
        let rootIndent = lines[0].indent
        let root = try parseBlock(column: rootIndent)
        if index < lines.count {
            let line = lines[index]
            throw YAMLError(
                file: file, line: line.number, column: line.indent + 1,
                reason: line.indent == rootIndent
                    ? "unexpected content after the document's value (multi-line scalars are not supported)"
                    : "inconsistent indentation")
        }
        return root
    }

    /// The node whose first token is at `column` of the current line; the block's indentation is
    /// `column` (it may follow a `- ` on the same line).
    private mutating func parseBlock(column: Int) throws(YAMLError) -> YAMLNode {
        let line = lines[index]
        switch try classify(line, column) {
        case .sequenceEntry: return try parseSequence(indent: column, sharesIndentWithKey: false)
        case .mappingEntry: return try parseMapping(indent: column)
        case .value:
            let node = try parseInlineValue(line, column, afterKey: false)
            index += 1
            return node
        }
    }

    private mutating func enter(_ line: Line, _ column: Int) throws(YAMLError) {
        depth += 1
        if depth > Self.depthMax {
            throw YAMLError(
                file: file, line: line.number, column: column + 1,
                reason: "nesting deeper than \(Self.depthMax) levels is not supported")
        }
    }

    private mutating func parseSequence(indent: Int, sharesIndentWithKey: Bool) throws(YAMLError) -> YAMLNode {
        let startMark = mark(lines[index], indent)
        try enter(lines[index], indent)
        defer { depth -= 1 }
        var items: [YAMLNode] = []
        var first = true
        while index < lines.count {
            let line = lines[index]
            if !first {
                if line.indent < indent { break }
                if line.indent > indent { throw inconsistentIndentation(line) }
            }
            guard Self.isSequenceEntry(line.text, indent) else {
                if sharesIndentWithKey { break }
                throw YAMLError(
                    file: file, at: mark(line, indent), "expected a sequence entry ('- ') at this indentation")
            }
            first = false
            let text = line.text
            var start = indent + 1
            while start < text.count && Self.isSpace(text[start]) { start += 1 }
            if start == text.count || text[start] == "#" {
                index += 1
                if index < lines.count && lines[index].indent > indent {
                    items.append(try parseBlock(column: lines[index].indent))
                } else {
                    items.append(.scalar("", quoted: false, mark(line, indent + 1)))
                }
            } else {
                items.append(try parseBlock(column: start))
            }
        }
        return .sequence(items, startMark)
    }

    private mutating func parseMapping(indent: Int) throws(YAMLError) -> YAMLNode {
        let startMark = mark(lines[index], indent)
        try enter(lines[index], indent)
        defer { depth -= 1 }
        var entries: [YAMLNode.Entry] = []
        var seen: [String: YAMLNode.Mark] = [:]
        var first = true
        while index < lines.count {
            let line = lines[index]
            if !first {
                if line.indent < indent { break }
                if line.indent > indent { throw inconsistentIndentation(line) }
            }
            first = false
            let key: String, keyMark: YAMLNode.Mark, valueStart: Int
            switch try classify(line, indent) {
            case .mappingEntry(let k, let m, let v): (key, keyMark, valueStart) = (k, m, v)
            case .sequenceEntry:
                throw YAMLError(file: file, at: mark(line, indent), "expected 'key: value', found a sequence entry")
            case .value:
                let hint = line.text[indent...].contains(":") ? "a ':' after a key must be followed by a space" : "missing ':' after the key"
                throw YAMLError(file: file, at: mark(line, indent), "expected 'key: value' (\(hint))")
            }
            if let previous = seen[key] {
                throw YAMLError(
                    file: file, at: keyMark, "duplicate key '\(key)' (first defined at line \(previous.line))")
            }
            seen[key] = keyMark
            let text = line.text
            var start = valueStart
            while start < text.count && Self.isSpace(text[start]) { start += 1 }
            let value: YAMLNode
            if start == text.count || text[start] == "#" {
                index += 1
                if index < lines.count && lines[index].indent > indent {
                    value = try parseBlock(column: lines[index].indent)
                } else if index < lines.count && lines[index].indent == indent
                    && Self.isSequenceEntry(lines[index].text, indent)
                {
                    value = try parseSequence(indent: indent, sharesIndentWithKey: true)
                } else {
                    value = .scalar("", quoted: false, YAMLNode.Mark(line: line.number, column: valueStart + 1))
                }
            } else {
                value = try parseInlineValue(line, start, afterKey: true)
                index += 1
            }
            entries.append((key: key, keyMark: keyMark, value: value))
        }
        return .mapping(entries, startMark)
    }

    private func inconsistentIndentation(_ line: Line) -> YAMLError {
        YAMLError(file: file, line: line.number, column: line.indent + 1, reason: "inconsistent indentation")
    }

    // MARK: - Tokens

    /// What starts at `column` (a non-space character) of `line`.
    private func classify(_ line: Line, _ column: Int) throws(YAMLError) -> Start {
        let text = line.text
        if Self.isSequenceEntry(text, column) { return .sequenceEntry }
        try refuseIndicator(line, column)
        let first = text[column]
        if first == "[" { return .value }
        if first == "\"" || first == "'" {
            let (key, end) = try scanQuoted(line, column)
            var next = end
            while next < text.count && Self.isSpace(text[next]) { next += 1 }
            if next < text.count && text[next] == ":" && (next + 1 == text.count || Self.isSpace(text[next + 1])) {
                return .mappingEntry(key: key, keyMark: mark(line, column), valueStart: next + 1)
            }
            return .value
        }
        var position = column
        while position < text.count {
            let scalar = text[position]
            if scalar == ":" && (position + 1 == text.count || Self.isSpace(text[position + 1])) {
                var end = position
                while end > column && Self.isSpace(text[end - 1]) { end -= 1 }
                let key = String(String.UnicodeScalarView(text[column..<end]))
                return .mappingEntry(key: key, keyMark: mark(line, column), valueStart: position + 1)
            }
            if scalar == "#" && position > column && Self.isSpace(text[position - 1]) { break }
            position += 1
        }
        return .value
    }

    /// A scalar or flow sequence starting at `column`, which must be the last thing on the line
    /// (a comment may follow).
    private func parseInlineValue(_ line: Line, _ column: Int, afterKey: Bool) throws(YAMLError) -> YAMLNode {
        let text = line.text
        if afterKey && Self.isSequenceEntry(text, column) {
            throw YAMLError(
                file: file, at: mark(line, column),
                "a block sequence cannot start on the same line as its key; put '- ' entries on the next lines")
        }
        try refuseIndicator(line, column)
        let first = text[column]
        if first == "[" {
            let (node, end) = try parseFlowSequence(line, column)
            if let extra = trailingContent(text, from: end) {
                throw YAMLError(file: file, at: mark(line, extra), "unexpected content after a flow sequence")
            }
            return node
        }
        if first == "\"" || first == "'" {
            let (value, end) = try scanQuoted(line, column)
            if let extra = trailingContent(text, from: end) {
                throw YAMLError(file: file, at: mark(line, extra), "unexpected content after a quoted scalar")
            }
            return .scalar(value, quoted: true, mark(line, column))
        }
        var end = column
        while end < text.count {
            let scalar = text[end]
            if scalar == "#" && end > column && Self.isSpace(text[end - 1]) { break }
            if scalar == ":" && (end + 1 == text.count || Self.isSpace(text[end + 1])) {
                throw YAMLError(
                    file: file, at: mark(line, end),
                    "a nested mapping cannot start on the same line as its key; quote the value if it contains ': '")
            }
            end += 1
        }
        while end > column && Self.isSpace(text[end - 1]) { end -= 1 }
        return .scalar(String(String.UnicodeScalarView(text[column..<end])), quoted: false, mark(line, column))
    }

    /// `[a, "b", 3]` on one line: scalars only. Returns the node and the index after `]`.
    private func parseFlowSequence(_ line: Line, _ column: Int) throws(YAMLError) -> (YAMLNode, Int) {
        let text = line.text
        var items: [YAMLNode] = []
        var position = column + 1
        let unterminated = YAMLError(
            file: file, at: mark(line, column),
            "unterminated flow sequence (a flow sequence must end with ']' on the same line)")
        while true {
            while position < text.count && Self.isSpace(text[position]) { position += 1 }
            guard position < text.count else { throw unterminated }
            let first = text[position]
            if first == "]" { return (.sequence(items, mark(line, column)), position + 1) }
            switch first {
            case "[": throw YAMLError(file: file, at: mark(line, position), "nested flow sequences are not supported")
            case ",": throw YAMLError(file: file, at: mark(line, position), "empty entry in flow sequence")
            case "#": throw unterminated
            default: try refuseIndicator(line, position)
            }
            if first == "\"" || first == "'" {
                let (value, end) = try scanQuoted(line, position)
                items.append(.scalar(value, quoted: true, mark(line, position)))
                position = end
            } else {
                var end = position
                while end < text.count {
                    let scalar = text[end]
                    if scalar == "," || scalar == "[" || scalar == "]" || scalar == "{" || scalar == "}" { break }
                    if scalar == "#" && Self.isSpace(text[end - 1]) { break }
                    if scalar == ":" && (end + 1 == text.count || Self.isSpace(text[end + 1]) || ",[]{}".unicodeScalars.contains(text[end + 1])) {
                        throw YAMLError(
                            file: file, at: mark(line, end),
                            "flow mappings are not supported (':' in a flow sequence); quote the value")
                    }
                    end += 1
                }
                var trimmed = end
                while trimmed > position && Self.isSpace(text[trimmed - 1]) { trimmed -= 1 }
                items.append(
                    .scalar(String(String.UnicodeScalarView(text[position..<trimmed])), quoted: false, mark(line, position)))
                position = end
            }
            while position < text.count && Self.isSpace(text[position]) { position += 1 }
            guard position < text.count else { throw unterminated }
            switch text[position] {
            case ",": position += 1
            case "]": continue
            case "{", "}": throw YAMLError(file: file, at: mark(line, position), "flow mappings are not supported")
            case "#": throw unterminated
            default: throw YAMLError(file: file, at: mark(line, position), "expected ',' or ']' in flow sequence")
            }
        }
    }

    /// A quoted scalar starting at `column`; returns its value and the index after the closing quote.
    private func scanQuoted(_ line: Line, _ column: Int) throws(YAMLError) -> (String, Int) {
        let text = line.text
        let quote = text[column]
        let kind = quote == "'" ? "single-quoted" : "double-quoted"
        var value = String.UnicodeScalarView()
        var position = column + 1
        while true {
            guard position < text.count else {
                throw YAMLError(
                    file: file, at: mark(line, column),
                    "unterminated \(kind) scalar (quoted scalars must end on the same line)")
            }
            let scalar = text[position]
            if scalar == quote {
                if quote == "'" && position + 1 < text.count && text[position + 1] == "'" {
                    value.append("'")
                    position += 2
                    continue
                }
                return (String(value), position + 1)
            }
            if quote == "\"" && scalar == "\\" {
                guard position + 1 < text.count else {
                    throw YAMLError(
                        file: file, at: mark(line, column),
                        "unterminated \(kind) scalar (quoted scalars must end on the same line)")
                }
                switch text[position + 1] {
                case "\"": value.append("\"")
                case "\\": value.append("\\")
                case "/": value.append("/")
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                case "u":
                    var code: UInt32 = 0
                    var valid = position + 5 < text.count
                    if valid {
                        for digit in text[(position + 2)...(position + 5)] {
                            guard let nibble = Self.hexValue(digit) else {
                                valid = false
                                break
                            }
                            code = code << 4 | nibble
                        }
                    }
                    guard valid, let decoded = Unicode.Scalar(code) else {
                        throw YAMLError(
                            file: file, at: mark(line, position),
                            "invalid \\u escape (expected 4 hexadecimal digits naming a Unicode scalar)")
                    }
                    value.append(decoded)
                    position += 6
                    continue
                default:
                    throw YAMLError(
                        file: file, at: mark(line, position), "unsupported escape '\\\(Character(text[position + 1]))'")
                }
                position += 2
                continue
            }
            value.append(scalar)
            position += 1
        }
    }

    /// Throws for a character that starts a YAML feature outside the subset.
    private func refuseIndicator(_ line: Line, _ column: Int) throws(YAMLError) {
        let text = line.text
        let followedBySpace = column + 1 == text.count || Self.isSpace(text[column + 1])
        let reason: String
        switch text[column] {
        case "&": reason = "anchors ('&') are not supported"
        case "*": reason = "aliases ('*') are not supported"
        case "!": reason = "tags ('!') are not supported"
        case "{": reason = "flow mappings ('{') are not supported"
        case "|", ">": reason = "block scalars ('|', '>') are not supported"
        case "%": reason = "directives ('%') are not supported"
        case "@", "`": reason = "'\(Character(text[column]))' is reserved and cannot start a plain scalar"
        case "}", "]", ",": reason = "unexpected '\(Character(text[column]))'"
        case "?" where followedBySpace: reason = "complex keys ('?') are not supported"
        case ":" where followedBySpace: reason = "missing key before ':'"
        default: return
        }
        throw YAMLError(file: file, at: mark(line, column), reason)
    }

    /// The index of anything but whitespace and a comment from `start` on, or nil.
    private func trailingContent(_ text: [Unicode.Scalar], from start: Int) -> Int? {
        var position = start
        while position < text.count && Self.isSpace(text[position]) { position += 1 }
        if position == text.count { return nil }
        if text[position] == "#" && position > start { return nil }
        return position
    }

    private static func isSequenceEntry(_ text: [Unicode.Scalar], _ column: Int) -> Bool {
        column < text.count && text[column] == "-" && (column + 1 == text.count || isSpace(text[column + 1]))
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }

    private static func hexValue(_ scalar: Unicode.Scalar) -> UInt32? {
        switch scalar {
        case "0"..."9": return scalar.value - 48
        case "a"..."f": return scalar.value - 87
        case "A"..."F": return scalar.value - 55
        default: return nil
        }
    }

    private func mark(_ line: Line, _ index: Int) -> YAMLNode.Mark {
        YAMLNode.Mark(line: line.number, column: index + 1)
    }

    private func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
