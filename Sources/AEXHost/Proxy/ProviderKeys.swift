import Foundation

/// Provider API keys: `NAME=value` lines of `AEX_HOME/.env`, overridden by the process environment.
/// Values are never logged.
public enum ProviderKeys {
    public static func load(envFile: String, environment: [String: String]) -> [String: String] {
        var keys: [String: String] = [:]
        // Never blocks: a file that is not regular is not read (callers refuse it with its reason first).
        if let text = (try? ConfigFile.readTextIfPresent(envFile)) ?? nil {
            for line in text.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
                var name = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("export ") { name = String(name.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
                var value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
                    value = String(value.dropFirst().dropLast())
                }
                if !name.isEmpty, !value.isEmpty { keys[name] = value }
            }
        }
        for (name, value) in environment where !value.isEmpty { keys[name] = value }
        return keys
    }
}
