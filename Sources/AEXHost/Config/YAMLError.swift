/// A YAML syntax or configuration validation error, positioned at `file:line:column` (1-based).
public struct YAMLError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var column: Int
    public var reason: String

    public init(file: String, line: Int, column: Int, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
    }

    public init(file: String, at mark: YAMLNode.Mark, _ reason: String) {
        self.init(file: file, line: mark.line, column: mark.column, reason: reason)
    }

    public var description: String { "\(file):\(line):\(column): \(reason)" }
}
