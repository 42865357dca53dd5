import Testing
@testable import AEXHost

@Suite struct ConfigYAMLSubsetParserTests {
    typealias Mark = YAMLNode.Mark

    private func parse(_ text: String) throws -> YAMLNode { try YAMLSubsetParser.parse(text, file: "t.yaml") }

    /// The error for `text`, or nil when it parses.
    private func error(_ text: String) -> YAMLError? {
        do {
            _ = try YAMLSubsetParser.parse(text, file: "t.yaml")
            return nil
        } catch {
            return error
        }
    }

    private func scalar(_ node: YAMLNode?) -> String? {
        if case .scalar(let text, _, _)? = node { return text }
        return nil
    }

    private func entries(_ node: YAMLNode?) -> [YAMLNode.Entry] {
        if case .mapping(let entries, _)? = node { return entries }
        return []
    }

    private func value(_ node: YAMLNode?, _ key: String) -> YAMLNode? {
        entries(node).first { $0.key == key }?.value
    }

    @Test func blockMappingsSequencesAndPositions() throws {
        let text = """
            ---
            # comment line

            name: aex   # trailing comment
            nested:
              inner: value
              deeper:
                leaf: 'x'
            list:
              - one
              - key: v
                other: w
              -
                - a
                - b
            same_indent_list:
            - p
            - q
            empty:
            after: 1
            """
        let root = try parse(text)
        guard case .mapping(let top, let mark) = root else {
            Issue.record("not a mapping")
            return
        }
        #expect(mark == Mark(line: 4, column: 1))
        #expect(top.map(\.key) == ["name", "nested", "list", "same_indent_list", "empty", "after"])
        #expect(top[0].keyMark == Mark(line: 4, column: 1))
        #expect(top[0].value == .scalar("aex", quoted: false, Mark(line: 4, column: 7)))
        #expect(scalar(value(value(value(root, "nested"), "deeper"), "leaf")) == "x")
        guard case .sequence(let items, let listMark)? = value(root, "list") else {
            Issue.record("list is not a sequence")
            return
        }
        #expect(listMark == Mark(line: 10, column: 3))
        #expect(items.count == 3)
        #expect(items[0] == .scalar("one", quoted: false, Mark(line: 10, column: 5)))
        #expect(entries(items[1]).map(\.key) == ["key", "other"])
        #expect(entries(items[1])[1].keyMark == Mark(line: 12, column: 5))
        guard case .sequence(let inner, _) = items[2] else {
            Issue.record("nested sequence missing")
            return
        }
        #expect(inner.map { scalar($0) } == ["a", "b"])
        guard case .sequence(let same, _)? = value(root, "same_indent_list") else {
            Issue.record("same-indent sequence missing")
            return
        }
        #expect(same.map { scalar($0) } == ["p", "q"])
        #expect(value(root, "empty")?.isNull == true)
        #expect(scalar(value(root, "after")) == "1")
    }

    @Test func flowSequencesAndQuotedScalars() throws {
        let text = #"""
            flow: [a, "b c", 3, 'it''s', "x, y"]
            empty_flow: []
            trailing_comma: [1, 2,]
            single: 'don''t # not a comment'
            double: "q\"\\\n\t\u00e9\/"
            "quoted key": plain value with 'quotes' and colons:inside
            url: https://api.example.com/v1
            dash: -5
            hash: a#b
            """#
        let root = try parse(text)
        guard case .sequence(let flow, let flowMark)? = value(root, "flow") else {
            Issue.record("flow is not a sequence")
            return
        }
        #expect(flowMark == Mark(line: 1, column: 7))
        #expect(flow.map { scalar($0) } == ["a", "b c", "3", "it's", "x, y"])
        #expect(flow[1] == .scalar("b c", quoted: true, Mark(line: 1, column: 11)))
        #expect(flow[2] == .scalar("3", quoted: false, Mark(line: 1, column: 18)))
        #expect(value(root, "empty_flow") == .sequence([], Mark(line: 2, column: 13)))
        if case .sequence(let items, _)? = value(root, "trailing_comma") { #expect(items.count == 2) }
        #expect(value(root, "single") == .scalar("don't # not a comment", quoted: true, Mark(line: 4, column: 9)))
        #expect(scalar(value(root, "double")) == "q\"\\\n\té/")
        #expect(scalar(value(root, "quoted key")) == "plain value with 'quotes' and colons:inside")
        #expect(scalar(value(root, "url")) == "https://api.example.com/v1")
        #expect(scalar(value(root, "dash")) == "-5")
        #expect(scalar(value(root, "hash")) == "a#b")
    }

    @Test func emptyDocumentsAndLineEndings() throws {
        #expect(try parse("").isNull)
        #expect(try parse("# only a comment\n\n").isNull)
        #expect(try parse("---\n").isNull)
        let crlf = try parse("a: 1\r\nb:\r\n  c: 2\r\n")
        #expect(scalar(value(value(crlf, "b"), "c")) == "2")
        #expect(scalar(value(try parse("\u{FEFF}a: 1"), "a")) == "1")
    }

    @Test(arguments: [
        // (text, line, column, words in the reason)
        ("a:\n\tb: 1\n", 2, 1, "tab"),
        ("a:\n  \tb: 1\n", 2, 3, "tab"),
        ("a: &anchor 1\n", 1, 4, "anchors"),
        ("a: 1\nb: *anchor\n", 2, 4, "aliases"),
        ("a: !!str 1\n", 1, 4, "tags"),
        ("a: {b: 1}\n", 1, 4, "flow mappings"),
        ("a: [1, {b: 2}]\n", 1, 8, "flow mappings"),
        ("a: |\n  text\n", 1, 4, "block scalars"),
        ("a:\n  b: >\n    folded\n", 2, 6, "block scalars"),
        ("a: 1\n---\nb: 2\n", 2, 1, "multiple documents"),
        ("a: 1\n...\n", 2, 1, "multiple documents"),
        ("--- a: 1\n", 1, 5, "'---' line"),
        ("a:\n    b: 1\n  c: 2\n", 3, 3, "inconsistent indentation"),
        ("a: 1\n  b: 2\n", 2, 3, "inconsistent indentation"),
        ("a:\n  - x\n   - y\n", 3, 4, "inconsistent indentation"),
        ("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first defined at line 1)"),
        ("m:\n  - k: 1\n    k: 2\n", 3, 5, "duplicate key 'k'"),
        ("a: 1\nb\n", 2, 1, "missing ':'"),
        ("a: 1\nb # c\n", 2, 1, "missing ':'"),
        ("a: \"abc\n", 1, 4, "unterminated double-quoted"),
        ("a: 'abc\n", 1, 4, "unterminated single-quoted"),
        ("a: \"abc\\\"\n", 1, 4, "unterminated double-quoted"),
        ("a: [1, 2] x\n", 1, 11, "after a flow sequence"),
        ("a: [1, 2]# x\n", 1, 10, "after a flow sequence"),
        ("a: [1, 2\n", 1, 4, "unterminated flow sequence"),
        ("a: [1, [2]]\n", 1, 8, "nested flow sequences"),
        ("a: [1,, 2]\n", 1, 7, "empty entry"),
        ("a: \"x\" y\n", 1, 8, "after a quoted scalar"),
        ("a: b: c\n", 1, 5, "nested mapping"),
        ("a: - b\n", 1, 4, "block sequence"),
        ("a: \"\\q\"\n", 1, 5, "unsupported escape"),
        ("a: \"\\u12G4\"\n", 1, 5, "\\u escape"),
        ("a: \"\\uD800\"\n", 1, 5, "\\u escape"),
        ("? complex\n", 1, 1, "complex keys"),
        ("%YAML 1.2\n", 1, 1, "directives"),
        (": v\n", 1, 1, "missing key"),
        ("- a\nb: 1\n", 2, 1, "sequence entry"),
        ("a: 1\n- b\n", 2, 1, "found a sequence entry"),
        ("a: x\u{7}y\n", 1, 5, "control character U+0007"),
        ("a:\n  b: 1\n c: 2\n", 3, 2, "inconsistent indentation"),
    ] as [(String, Int, Int, String)])
    func rejectsWithPosition(text: String, line: Int, column: Int, reason: String) {
        guard let error = error(text) else {
            Issue.record("accepted: \(text.debugDescription)")
            return
        }
        #expect(error.file == "t.yaml")
        #expect(error.line == line, "\(error)")
        #expect(error.column == column, "\(error)")
        #expect(error.reason.contains(reason), "\(error)")
    }

    @Test func errorDescriptionIsFileLineColumnReason() {
        let error = YAMLError(file: "/etc/aex/models.yaml", line: 3, column: 7, reason: "duplicate key 'a'")
        #expect(error.description == "/etc/aex/models.yaml:3:7: duplicate key 'a'")
    }

    @Test func deepNestingIsRefusedNotCrashing() {
        var text = ""
        for level in 0..<200 { text += String(repeating: " ", count: level) + "k:\n" }
        let error = error(text)
        #expect(error?.reason.contains("nesting") == true)
        let dashes = String(repeating: "- ", count: 500) + "x"
        #expect(self.error(dashes)?.reason.contains("nesting") == true)
    }

    /// Every single-character deletion or insertion of a YAML-significant character in the default
    /// configuration either parses or throws a positioned error; nothing traps.
    @Test func mutationsNeverTrap() {
        let original = Array(HomeInitializer.defaultModelsConfig.unicodeScalars)
        let inserts: [Unicode.Scalar] = [" ", "\t", "\n", ":", "-", "#", "\"", "["]
        var parsed = 0, refused = 0
        for position in 0...original.count {
            var variants: [[Unicode.Scalar]] = inserts.map { var copy = original; copy.insert($0, at: position); return copy }
            if position < original.count { var copy = original; copy.remove(at: position); variants.append(copy) }
            for variant in variants {
                var text = String.UnicodeScalarView()
                text.append(contentsOf: variant)
                do {
                    _ = try ModelsConfig.parse(String(text), file: "f", providerTypes: ["echo", "openai_compatible"])
                    parsed += 1
                } catch {
                    #expect(error.line >= 1 && error.column >= 1 && error.file == "f")
                    refused += 1
                }
            }
        }
        #expect(parsed > 0 && refused > 0)
    }
}
