import Glibc

/// The validated contents of `models.yaml` (SPEC section 6).
///
/// `parse` and `load` either return a complete, valid configuration or throw the first error found,
/// positioned at the offending node; they never return a partial configuration. Reloading is the
/// caller's job: parse the new file fully, then swap it in; on error keep the old one.
public struct ModelsConfig: Sendable, Equatable {
    public var defaultModel: String?
    public var providers: [String: ProviderConfig]
    public var models: [String: ModelConfig]

    public static let supportedVersion: Int64 = 1
    /// Refuse to read configuration files larger than this.
    public static let fileBytesMax = 4 << 20

    public init(defaultModel: String? = nil, providers: [String: ProviderConfig], models: [String: ModelConfig]) {
        self.defaultModel = defaultModel
        self.providers = providers
        self.models = models
    }

    static let keys = ["version", "default_model", "providers", "models"]

    /// Parses and validates `text`; `file` names the source in errors. `providerTypes` are the
    /// provider plugin types that are available (e.g. `openai_compatible`, `echo`); nil accepts any
    /// type (to see which models use a type, whatever else the file names).
    public static func parse(_ text: String, file: String, providerTypes: Set<String>?) throws(YAMLError) -> ModelsConfig {
        let root = try YAMLSubsetParser.parse(text, file: file)
        if root.isNull {
            throw YAMLError(file: file, at: root.mark, "the configuration is empty; expected 'version: 1', providers and models")
        }
        let fields = try root.keyedMapping("the top level", allowed: keys, file: file)

        guard let versionField = fields["version"] else {
            throw YAMLError(file: file, at: root.mark, "missing required key 'version' (expected 'version: 1')")
        }
        guard case .scalar(let versionText, quoted: false, _) = versionField.value,
            versionText == String(supportedVersion)
        else {
            throw YAMLError(
                file: file, at: versionField.value.mark,
                "version must be the integer \(supportedVersion), found \(versionField.value.kindDescription)")
        }

        guard let providersField = fields["providers"] else {
            throw YAMLError(file: file, at: root.mark, "missing required key 'providers'")
        }
        var providers: [String: ProviderConfig] = [:]
        for entry in try providersField.value.mappingEntries("providers", file: file, nullIsEmpty: true) {
            providers[entry.key] = try ProviderConfig.validate(
                name: entry.key, nameMark: entry.keyMark, entry.value, providerTypes: providerTypes, file: file)
        }

        guard let modelsField = fields["models"] else {
            throw YAMLError(file: file, at: root.mark, "missing required key 'models'")
        }
        var models: [String: ModelConfig] = [:]
        for entry in try modelsField.value.mappingEntries("models", file: file, nullIsEmpty: true) {
            models[entry.key] = try ModelConfig.validate(
                alias: entry.key, aliasMark: entry.keyMark, entry.value, providers: providers, file: file)
        }

        var defaultModel: String?
        if let field = fields["default_model"] {
            let name = try field.value.string("default_model", file: file)
            guard models[name] != nil else {
                let known = models.isEmpty ? "none are declared" : models.keys.sorted().joined(separator: ", ")
                throw YAMLError(
                    file: file, at: field.value.mark, "default_model '\(name)' is not a declared model (models: \(known))")
            }
            defaultModel = name
        }
        return ModelsConfig(defaultModel: defaultModel, providers: providers, models: models)
    }

    /// Reads `path` and parses it. An unreadable file is an error at 1:1 naming the problem.
    public static func load(path: String, providerTypes: Set<String>?) throws(YAMLError) -> ModelsConfig {
        try parse(try readFile(path), file: path, providerTypes: providerTypes)
    }

    /// The file's text as UTF-8, or a `YAMLError` at 1:1. Only a regular file is read (`ConfigFile`):
    /// a FIFO or device in its place is refused at once instead of blocking the reader.
    static func readFile(_ path: String) throws(YAMLError) -> String {
        do {
            return try ConfigFile.readText(path, maxBytes: fileBytesMax)
        } catch {
            let reason = switch error {
            case .missing: "cannot open the file: \(String(cString: strerror(ENOENT)))"
            default: error.reason
            }
            throw YAMLError(file: path, line: 1, column: 1, reason: reason)
        }
    }

    /// Provider names and model aliases: non-empty, no whitespace or control characters.
    static func checkName(_ name: String, kind: String, at mark: YAMLNode.Mark, file: String) throws(YAMLError) {
        guard !name.isEmpty else { throw YAMLError(file: file, at: mark, "\(kind) name must not be empty") }
        if name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            throw YAMLError(file: file, at: mark, "\(kind) name '\(name)' must not contain whitespace or control characters")
        }
    }

    /// The aliases of the models whose provider has one of `types`, sorted.
    public func aliases(usingProviderTypes types: Set<String>) -> [String] {
        models.values.filter { model in providers[model.provider].map { types.contains($0.type) } ?? false }.map(\.alias).sorted()
    }
}
