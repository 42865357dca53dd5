/// The declaration of one command: its words, positionals, options and help. Help text and
/// argument checking are both derived from it, so they cannot disagree.
public struct CommandSpec: Sendable {
    public struct Option: Sendable {
        public let name: String
        public let valueName: String?
        public let help: String

        public static func flag(_ name: String, _ help: String) -> Option { Option(name: name, valueName: nil, help: help) }
        public static func value(_ name: String, _ valueName: String, _ help: String) -> Option {
            Option(name: name, valueName: valueName, help: help)
        }
    }

    public let words: [String]
    public let positionals: [String]
    public let summary: String
    public let options: [Option]
    /// After the positionals, everything left is a command to run (`aex run … CMD ARGS`).
    public let takesTrailingCommand: Bool

    public init(_ words: [String], positionals: [String] = [], summary: String, options: [Option] = [], takesTrailingCommand: Bool = false) {
        self.words = words
        self.positionals = positionals
        self.summary = summary
        self.options = options
        self.takesTrailingCommand = takesTrailingCommand
    }

    public var usageLine: String {
        var parts = ["aex"] + words + positionals
        if !options.isEmpty { parts.append("[options]") }
        if takesTrailingCommand { parts.append("[--] CMD [ARGS...]") }
        return "usage: " + parts.joined(separator: " ")
    }

    public var help: String {
        var text = usageLine + "\n\n" + summary + "\n\noptions:\n"
        let rows: [(String, String)] = options.map { option in
            (option.valueName.map { "\(option.name) \($0)" } ?? option.name, option.help)
        } + [("-h, --help", "show this help")]
        let width = rows.map { $0.0.count }.max() ?? 0
        for (left, right) in rows { text += "  " + left.padding(to: width) + "  " + right + "\n" }
        return text
    }
}

extension String {
    func padding(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
