/// One upstream provider from `models.yaml`: where it is, which plugin speaks to it, and which
/// environment variable holds its API key.
public struct ProviderConfig: Sendable, Equatable {
    public var name: String
    /// `http://…`, `https://…` or `local://…`, without a trailing `/`.
    public var baseURL: String
    /// The provider plugin type, e.g. `openai_compatible`.
    public var type: String
    /// Matches `[A-Z_][A-Z0-9_]*`; defaults to `defaultAPIKeyEnv(name)`.
    public var apiKeyEnv: String
    /// Whole-request timeout, 1...3600, default 60.
    public var timeoutSeconds: Int
    /// Connection timeout, 1...600, default 10.
    public var connectTimeoutSeconds: Int

    public static let defaultTimeoutSeconds = 60
    public static let defaultConnectTimeoutSeconds = 10
    public static let timeoutSecondsRange: ClosedRange<Int64> = 1...3600
    public static let connectTimeoutSecondsRange: ClosedRange<Int64> = 1...600
    public static let urlSchemes = ["http://", "https://", "local://"]

    public init(
        name: String, baseURL: String, type: String, apiKeyEnv: String? = nil,
        timeoutSeconds: Int = ProviderConfig.defaultTimeoutSeconds,
        connectTimeoutSeconds: Int = ProviderConfig.defaultConnectTimeoutSeconds
    ) {
        self.name = name
        self.baseURL = baseURL
        self.type = type
        self.apiKeyEnv = apiKeyEnv ?? Self.defaultAPIKeyEnv(name)
        self.timeoutSeconds = timeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// The provider name uppercased, every character but ASCII letters and digits replaced by `_`,
    /// plus `_API_KEY`: `groq` → `GROQ_API_KEY`, `my-vllm` → `MY_VLLM_API_KEY`.
    public static func defaultAPIKeyEnv(_ name: String) -> String {
        var result = ""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "a"..."z": result.unicodeScalars.append(Unicode.Scalar(scalar.value - 32)!)
            case "A"..."Z", "0"..."9": result.unicodeScalars.append(scalar)
            default: result.append("_")
            }
        }
        return result + "_API_KEY"
    }

    /// False for a provider served in the process (`local://…`, such as the offline `echo`): it is
    /// called without a key. Any other needs its `api_key_env` set (or a passthrough key).
    public var needsAPIKey: Bool { !baseURL.hasPrefix("local://") }

    /// `[A-Z_][A-Z0-9_]*`.
    public static func isValidEnvName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || ("A"..."Z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }
}

// MARK: - Validation

extension ProviderConfig {
    static let keys = ["base_url", "type", "api_key_env", "timeout_seconds", "connect_timeout_seconds"]

    /// Validates the mapping of provider `name` (declared at `nameMark`).
    static func validate(
        name: String, nameMark: YAMLNode.Mark, _ node: YAMLNode, providerTypes: Set<String>?, file: String
    ) throws(YAMLError) -> ProviderConfig {
        try ModelsConfig.checkName(name, kind: "provider", at: nameMark, file: file)
        let context = "provider '\(name)'"
        let fields = try node.keyedMapping(context, allowed: keys, file: file)
        func required(_ key: String) throws(YAMLError) -> YAMLNode {
            guard let field = fields[key] else {
                throw YAMLError(file: file, at: nameMark, "missing required key '\(key)' in \(context)")
            }
            return field.value
        }

        let urlNode = try required("base_url")
        let baseURL = try normalizedURL(urlNode, context: context, file: file)

        let typeNode = try required("type")
        let type = try typeNode.string("type of \(context)", file: file)
        if let providerTypes, !providerTypes.contains(type) {
            let known = providerTypes.isEmpty ? "none are loaded" : providerTypes.sorted().joined(separator: ", ")
            throw YAMLError(
                file: file, at: typeNode.mark, "unknown provider type '\(type)' for \(context) (known types: \(known))")
        }

        let apiKeyEnv: String
        if let field = fields["api_key_env"] {
            apiKeyEnv = try field.value.string("api_key_env of \(context)", file: file)
            guard isValidEnvName(apiKeyEnv) else {
                throw YAMLError(
                    file: file, at: field.value.mark,
                    "api_key_env of \(context) must match [A-Z_][A-Z0-9_]*, found '\(apiKeyEnv)'")
            }
        } else {
            apiKeyEnv = defaultAPIKeyEnv(name)
            guard isValidEnvName(apiKeyEnv) else {
                throw YAMLError(
                    file: file, at: nameMark,
                    "the default api_key_env for \(context) would be '\(apiKeyEnv)', which is not a valid variable name; set api_key_env")
            }
        }

        var timeout = defaultTimeoutSeconds
        if let field = fields["timeout_seconds"] {
            timeout = Int(try field.value.integer("timeout_seconds of \(context)", in: timeoutSecondsRange, file: file))
        }
        var connectTimeout = defaultConnectTimeoutSeconds
        if let field = fields["connect_timeout_seconds"] {
            connectTimeout = Int(
                try field.value.integer("connect_timeout_seconds of \(context)", in: connectTimeoutSecondsRange, file: file))
        }
        return ProviderConfig(
            name: name, baseURL: baseURL, type: type, apiKeyEnv: apiKeyEnv, timeoutSeconds: timeout,
            connectTimeoutSeconds: connectTimeout)
    }

    /// Checks the scheme and refuses whitespace; removes trailing `/`.
    private static func normalizedURL(_ node: YAMLNode, context: String, file: String) throws(YAMLError) -> String {
        let what = "base_url of \(context)"
        var url = try node.string(what, file: file)
        if url.unicodeScalars.contains(where: { $0 == " " || $0 == "\t" || $0.value < 0x20 || $0.value == 0x7F }) {
            throw YAMLError(file: file, at: node.mark, "\(what) must not contain whitespace: \"\(url)\"")
        }
        guard let scheme = urlSchemes.first(where: { url.hasPrefix($0) }) else {
            throw YAMLError(
                file: file, at: node.mark,
                "\(what) must start with http://, https:// or local://, found '\(url)'")
        }
        while url.hasSuffix("/") && url.count > scheme.count { url.removeLast() }
        guard url.count > scheme.count, !url.hasSuffix("/") else {
            throw YAMLError(file: file, at: node.mark, "\(what) has no host: '\(url)'")
        }
        return url
    }
}
