import Foundation
import Testing
@testable import AEXHost

@Suite struct ModelsConfigTests {
    static let types: Set<String> = ["openai_compatible", "echo"]

    /// A valid configuration; tests replace numbered lines (1-based) to make variants.
    static let baseLines = [
        "version: 1",  // 1
        "default_model: small",  // 2
        "providers:",  // 3
        "  groq:",  // 4
        "    base_url: https://api.groq.com/openai/v1/",  // 5
        "    type: openai_compatible",  // 6
        "models:",  // 7
        "  small:",  // 8
        "    provider: groq",  // 9
        "    provider_model: llama-3.1-8b-instant",  // 10
        "    pricing:",  // 11
        "      input_usd_per_mtok: \"0.05\"",  // 12
        "      output_usd_per_mtok: 0.08",  // 13
        "    limits:",  // 14
        "      max_tokens: 8192",  // 15
    ]

    /// The base configuration with line `line` replaced by `text` (which may hold several lines).
    static func variant(_ line: Int, _ text: String) -> String { variant(line...line, text) }

    /// The base configuration with `lines` (1-based) replaced by `text`.
    static func variant(_ lines: ClosedRange<Int>, _ text: String) -> String {
        var result = baseLines
        result.replaceSubrange((lines.lowerBound - 1)..<lines.upperBound, with: [text])
        return result.joined(separator: "\n") + "\n"
    }

    private func parse(_ text: String) throws(YAMLError) -> ModelsConfig {
        try ModelsConfig.parse(text, file: "models.yaml", providerTypes: Self.types)
    }

    private func error(_ text: String) -> YAMLError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaultConfigFromHomeInitializerParses() throws {
        let config = try parse(HomeInitializer.defaultModelsConfig)
        #expect(config.defaultModel == "echo-1")
        #expect(config.providers["echo"] == ProviderConfig(
            name: "echo", baseURL: "local://echo", type: "echo", apiKeyEnv: "ECHO_API_KEY", timeoutSeconds: 60,
            connectTimeoutSeconds: 10))
        #expect(config.providers["openai"]?.baseURL == "https://api.openai.com/v1")
        #expect(config.providers["openai"]?.apiKeyEnv == "OPENAI_API_KEY")
        #expect(config.models["echo-1"] == ModelConfig(
            alias: "echo-1", provider: "echo", providerModel: "echo-1",
            pricing: ModelPricing(inputMicroPerMillionTokens: 1_000_000, outputMicroPerMillionTokens: 2_000_000),
            maxTokens: 4096, capabilities: ModelCapabilities(tools: false, vision: false)))
        let mini = try #require(config.models["gpt-4o-mini"])
        #expect(mini.pricing == ModelPricing(inputMicroPerMillionTokens: 150_000, outputMicroPerMillionTokens: 600_000))
        #expect(mini.maxTokens == 16384)
        #expect(mini.capabilities == ModelCapabilities(tools: true, vision: true, reasoning: false, streaming: true))
    }

    @Test func specExampleParses() throws {
        let text = """
            version: 1
            default_model: gpt-oss-20b
            providers:
              groq:
                base_url: https://api.groq.com/openai/v1
                type: openai_compatible       # the provider plugin that speaks to it
                api_key_env: GROQ_API_KEY     # optional; default <PROVIDER NAME UPPERCASED>_API_KEY
                timeout_seconds: 60           # optional
            models:
              gpt-oss-20b:
                provider: groq
                provider_model: llama-3.1-8b-instant
                pricing:
                  input_micro: 50             # micro-USD per token, as in the original format
                  output_micro: 100
                  # or exact decimals for cheap models: input_usd_per_mtok: "0.05", output_usd_per_mtok: "0.08"
                limits:
                  max_tokens: 8192
                capabilities:
                  reasoning: true
                  tools: true
                  vision: false
            """
        let config = try parse(text)
        #expect(config == ModelsConfig(
            defaultModel: "gpt-oss-20b",
            providers: ["groq": ProviderConfig(
                name: "groq", baseURL: "https://api.groq.com/openai/v1", type: "openai_compatible",
                apiKeyEnv: "GROQ_API_KEY", timeoutSeconds: 60, connectTimeoutSeconds: 10)],
            models: ["gpt-oss-20b": ModelConfig(
                alias: "gpt-oss-20b", provider: "groq", providerModel: "llama-3.1-8b-instant",
                pricing: ModelPricing(inputMicroPerMillionTokens: 50_000_000, outputMicroPerMillionTokens: 100_000_000),
                maxTokens: 8192,
                capabilities: ModelCapabilities(tools: true, vision: false, reasoning: true, streaming: true))]))
    }

    @Test func quotedScalarsDefaultsAndExtraKeys() throws {
        let text = """
            ---
            version: 1
            providers:
              "my-vllm":
                base_url: 'http://127.0.0.1:8000/v1//'
                type: "openai_compatible"
                connect_timeout_seconds: 600
                timeout_seconds: 3600
              local:
                base_url: "local://echo"
                type: echo
            models:
              'qwen':
                provider: "my-vllm"
                provider_model: "Qwen/Qwen2.5-7B-Instruct"
                pricing: # mixed forms
                  input_micro: 0
                  output_usd_per_mtok: 1.000001
                limits: {max_tokens: 1}
            """
        // Flow mappings are outside the subset; the same file with a block `limits` parses.
        #expect(error(text)?.line == 19)
        let config = try parse(text.replacingOccurrences(of: "limits: {max_tokens: 1}", with: "limits:\n      max_tokens: 1"))
        #expect(config.defaultModel == nil)
        let vllm = try #require(config.providers["my-vllm"])
        #expect(vllm.baseURL == "http://127.0.0.1:8000/v1")
        #expect(vllm.apiKeyEnv == "MY_VLLM_API_KEY")
        #expect(vllm.timeoutSeconds == 3600 && vllm.connectTimeoutSeconds == 600)
        #expect(config.providers["local"]?.apiKeyEnv == "LOCAL_API_KEY")
        let qwen = try #require(config.models["qwen"])
        #expect(qwen.providerModel == "Qwen/Qwen2.5-7B-Instruct")
        #expect(qwen.pricing == ModelPricing(inputMicroPerMillionTokens: 0, outputMicroPerMillionTokens: 1_000_001))
        #expect(qwen.maxTokens == 1)
        #expect(qwen.capabilities == .defaults)
        #expect(qwen.capabilities.streaming && qwen.capabilities.embeddings && !qwen.capabilities.tools && !qwen.capabilities.vision && !qwen.capabilities.reasoning,
                "SPEC §6: streaming and embeddings unless the file says false")
    }

    @Test func emptyProvidersAndModelsAreEmptyMappings() throws {
        let config = try parse("version: 1\nproviders:\n  # none yet\nmodels:\n")
        #expect(config == ModelsConfig(providers: [:], models: [:]))
    }

    @Test func baseConfigParses() throws {
        let config = try parse(Self.variant(1, "version: 1"))
        #expect(config.providers["groq"]?.baseURL == "https://api.groq.com/openai/v1")
        #expect(config.models["small"]?.pricing == ModelPricing(
            inputMicroPerMillionTokens: 50_000, outputMicroPerMillionTokens: 80_000))
    }

    @Test(arguments: [
        // (lines replaced, new text, error line, error column, words in the reason)
        (9...9, "    provider: grok", 9, 15, "unknown provider 'grok' for model 'small' (declared providers: groq)"),
        (6...6, "    type: openai", 6, 11, "unknown provider type 'openai' for provider 'groq' (known types: echo, openai_compatible)"),
        (11...11, "    pricin:", 11, 5, "unknown key 'pricin' in model 'small'"),
        (11...11, "    prise:\n      input_micro: 1\n      output_micro: 1", 11, 5,
         "unknown key 'prise' in model 'small' (known keys: provider, provider_model, pricing, limits, capabilities)"),
        (11...13, "    capabilities:\n      tools: true", 8, 3, "missing required key 'pricing' in model 'small'"),
        (12...12, "      input_usd_per_mtok: \"0.0000001\"", 12, 27, "more than 6 decimals"),
        (13...13, "      output_usd_per_mtok: 0.0000001", 13, 28, "more than 6 decimals"),
        (12...12, "      input_micro: -5", 12, 20, "must not be negative"),
        (12...12, "      input_micro: 0.5", 12, 20, "whole number"),
        (12...12, "      input_micro: \"50\"", 12, 20, "must be an integer"),
        (12...12, "      input_usd_per_mtok: \"-0.05\"", 12, 27, "must not be negative"),
        (12...12, "      input_usd_per_mtok: 1e-3", 12, 27, "decimal number"),
        (12...12, "      input_micro: 9223372036855", 12, 20, "too large"),
        (12...12, "      input_micro: 99999999999999999999", 12, 20, "out of range"),
        (12...12, "      input_usd_per_mtok: 9223372036854.775808", 12, 27, "too large"),
        (12...12, "      input_micro: 1\n      input_usd_per_mtok: \"0.05\"", 13, 7, "both input_micro and input_usd_per_mtok"),
        (12...12, "      # no input price", 11, 5, "needs input_micro or input_usd_per_mtok"),
        (1...1, "version: 2", 1, 10, "version must be the integer 1"),
        (1...1, "version: \"1\"", 1, 10, "version must be the integer 1"),
        (1...1, "# no version", 2, 1, "missing required key 'version'"),
        (2...2, "default_model: large", 2, 16, "default_model 'large' is not a declared model (models: small)"),
        (2...2, "defualt_model: small", 2, 1, "unknown key 'defualt_model' in the top level"),
        (5...5, "    base_url: ftp://example.com", 5, 15, "must start with http://, https:// or local://"),
        (5...5, "    base_url: \"https://example.com \"", 5, 15, "whitespace"),
        (5...5, "    base_url: https://", 5, 15, "no host"),
        (5...5, "    # no base_url", 4, 3, "missing required key 'base_url' in provider 'groq'"),
        (6...6, "    type: openai_compatible\n    api_key_env: groq_key", 7, 18, "must match [A-Z_][A-Z0-9_]*"),
        (6...6, "    type: openai_compatible\n    timeout_seconds: 0", 7, 22, "between 1 and 3600"),
        (6...6, "    type: openai_compatible\n    connect_timeout_seconds: 601", 7, 30, "between 1 and 600"),
        (6...6, "    type: openai_compatible\n    timeout_seconds: sixty", 7, 22, "must be an integer"),
        (15...15, "      max_tokens: 0", 15, 19, "between 1 and 10000000"),
        (15...15, "      max_tokens: 10000001", 15, 19, "between 1 and 10000000"),
        (6...6, "    type:openai_compatible", 6, 5, "a ':' after a key must be followed by a space"),
        (15...15, "      max_toks: 10", 15, 7, "unknown key 'max_toks' in limits of model 'small'"),
        (10...10, "    provider_model: \"\"", 10, 21, "must not be empty"),
        (15...15, "      max_tokens: 8192\n    capabilities:\n      tools: yes", 17, 14, "must be true or false"),
        (15...15, "      max_tokens: 8192\n    capabilities:\n      stream: true", 17, 7, "unknown key 'stream'"),
        (4...4, "  \"gr oq\":", 4, 3, "must not contain whitespace"),
        (4...4, "  1groq:", 4, 3, "default api_key_env"),
        (15...15, "      max_tokens: 8192\n    capabilities: [tools]", 16, 19, "capabilities of model 'small' must be a mapping"),
        (6...6, "    type: openai_compatible\n  groq:\n    type: echo", 7, 3, "duplicate key 'groq'"),
        (6...6, "\ttype: openai_compatible", 6, 1, "tab characters are not allowed in indentation"),
        (6...6, "    type: &t openai_compatible", 6, 11, "anchors"),
        (6...6, "    type: {name: echo}", 6, 11, "flow mappings"),
        (10...10, "    provider_model: |", 10, 21, "block scalars"),
    ] as [(ClosedRange<Int>, String, Int, Int, String)])
    func rejectsWithPosition(replacing: ClosedRange<Int>, with text: String, line: Int, column: Int, reason: String) {
        guard let error = error(Self.variant(replacing, text)) else {
            Issue.record("accepted: \(text)")
            return
        }
        #expect(error.file == "models.yaml")
        #expect(error.line == line, "\(error)")
        #expect(error.column == column, "\(error)")
        #expect(error.reason.contains(reason), "\(error)")
    }

    @Test func emptyFileAndMissingSectionsAreErrors() {
        #expect(error("")?.description == "models.yaml:1:1: the configuration is empty; expected 'version: 1', providers and models")
        #expect(error("version: 1\nmodels:\n")?.reason == "missing required key 'providers'")
        #expect(error("version: 1\nproviders:\n")?.reason == "missing required key 'models'")
        #expect(error("- a\n")?.reason.contains("the top level must be a mapping") == true)
    }

    @Test func unknownTypeListsTheLoadedOnes() {
        for (types, known) in [(["echo"], "echo"), ([], "none are loaded")] as [(Set<String>, String)] {
            do {
                _ = try ModelsConfig.parse(Self.variant(1, "version: 1"), file: "m", providerTypes: types)
                Issue.record("accepted an unknown type")
            } catch {
                #expect(error.description
                    == "m:6:11: unknown provider type 'openai_compatible' for provider 'groq' (known types: \(known))")
            }
        }
    }

    @Test func defaultAPIKeyEnvNames() {
        #expect(ProviderConfig.defaultAPIKeyEnv("groq") == "GROQ_API_KEY")
        #expect(ProviderConfig.defaultAPIKeyEnv("my-vllm") == "MY_VLLM_API_KEY")
        #expect(ProviderConfig.defaultAPIKeyEnv("Open.AI2") == "OPEN_AI2_API_KEY")
        #expect(ProviderConfig.defaultAPIKeyEnv("é") == "__API_KEY")
        #expect(ProviderConfig.isValidEnvName("_X1"))
        #expect(!ProviderConfig.isValidEnvName("1X"))
        #expect(!ProviderConfig.isValidEnvName("x"))
        #expect(!ProviderConfig.isValidEnvName(""))
    }

    @Test func loadReadsTheFileAndReportsUnreadableOnes() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/models.yaml"
        try HomeInitializer.defaultModelsConfig.write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ModelsConfig.load(path: path, providerTypes: Self.types)
        #expect(config.models.count == 2)

        let missing = directory.path + "/absent.yaml"
        do {
            _ = try ModelsConfig.load(path: missing, providerTypes: Self.types)
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.file == missing)
            #expect(error.line == 1 && error.column == 1)
            #expect(error.reason.contains("No such file or directory"), "\(error)")
        }

        let broken = directory.path + "/broken.yaml"
        try "version: 1\nproviders:\n  x:\n    base_url: local://x\n    type: nope\nmodels:\n"
            .write(toFile: broken, atomically: true, encoding: .utf8)
        do {
            _ = try ModelsConfig.load(path: broken, providerTypes: Self.types)
            Issue.record("loaded an invalid file")
        } catch {
            #expect(error.description.hasPrefix(broken + ":5:11: unknown provider type 'nope'"), "\(error)")
        }

        let binary = directory.path + "/binary.yaml"
        _ = FileManager.default.createFile(atPath: binary, contents: Data([0x61, 0xFF, 0xFE]))
        #expect(throws: YAMLError(file: binary, line: 1, column: 1, reason: "the file is not valid UTF-8")) {
            try ModelsConfig.load(path: binary, providerTypes: Self.types)
        }
        do {
            _ = try ModelsConfig.load(path: directory.path, providerTypes: Self.types)
            Issue.record("loaded a directory")
        } catch {
            #expect(error.line == 1 && error.column == 1 && error.reason.contains("directory"), "\(error)")
        }
    }
}
