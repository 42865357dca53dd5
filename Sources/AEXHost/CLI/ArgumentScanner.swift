/// The arguments of one command, checked against its `CommandSpec`.
public struct ParsedArguments: Sendable, Equatable {
    public var positionals: [String] = []
    public var values: [String: String] = [:]
    public var flags: Set<String> = []
    public var trailing: [String] = []
    public var helpRequested = false

    public func flag(_ name: String) -> Bool { flags.contains(name) }
    public func value(_ name: String) -> String? { values[name] }
}

/// Splits arguments into positionals, options and (for `aex run`) a trailing command. Pure.
/// `--name value` and `--name=value` both work; `--` ends the options; an argument that looks like a
/// negative number is a positional (so `-5` is reported as a negative amount, not an unknown option).
public enum ArgumentScanner {
    public static func scan(_ arguments: [String], spec: CommandSpec) throws(UsageError) -> ParsedArguments {
        var parsed = ParsedArguments()
        let options = Dictionary(spec.options.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if spec.takesTrailingCommand, parsed.positionals.count == spec.positionals.count, !argument.hasPrefix("-") {
                parsed.trailing = Array(arguments[(index - 1)...])
                break
            }
            if argument == "--" {
                let rest = Array(arguments[index...])
                if spec.takesTrailingCommand {
                    let needed = spec.positionals.count - parsed.positionals.count
                    parsed.positionals += rest.prefix(max(0, needed))
                    parsed.trailing = Array(rest.dropFirst(max(0, needed)))
                } else {
                    parsed.positionals += rest
                }
                break
            }
            if argument == "-h" || argument == "--help" {
                parsed.helpRequested = true
                continue
            }
            if argument.hasPrefix("-"), argument.count > 1, !looksNegativeNumber(argument) {
                let (name, inlineValue) = splitInline(argument)
                guard let option = options[name] else { throw UsageError("unknown option '\(name)'") }
                if parsed.values[name] != nil || parsed.flags.contains(name) {
                    throw UsageError("option '\(name)' given more than once")
                }
                if let valueName = option.valueName {
                    if let inlineValue {
                        parsed.values[name] = inlineValue
                    } else {
                        guard index < arguments.count else { throw UsageError("option '\(name)' needs a value (\(valueName))") }
                        parsed.values[name] = arguments[index]
                        index += 1
                    }
                } else {
                    guard inlineValue == nil else { throw UsageError("option '\(name)' takes no value") }
                    parsed.flags.insert(name)
                }
                continue
            }
            parsed.positionals.append(argument)
        }
        if parsed.helpRequested { return parsed }
        if parsed.positionals.count < spec.positionals.count {
            throw UsageError("missing \(spec.positionals[parsed.positionals.count])")
        }
        if parsed.positionals.count > spec.positionals.count {
            throw UsageError("unexpected argument '\(parsed.positionals[spec.positionals.count])'")
        }
        if spec.takesTrailingCommand, parsed.trailing.isEmpty { throw UsageError("missing the command to run") }
        return parsed
    }

    private static func splitInline(_ argument: String) -> (String, String?) {
        guard argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") else { return (argument, nil) }
        return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
    }

    private static func looksNegativeNumber(_ argument: String) -> Bool {
        let rest = argument.dropFirst()
        return !rest.isEmpty && rest.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
    }
}
