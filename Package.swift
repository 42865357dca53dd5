// swift-tools-version:6.0
// AEX — AI Execution Kernel. No package dependencies: toolchain, Glibc and system C libraries only.
import PackageDescription

/// Each source folder of the kernel carries a README of its invariants; they are not resources.
let folderReadmes = ["README.md", "Agents/README.md", "Auth/README.md", "CLI/README.md", "Config/README.md", "Daemon/README.md", "Gateway/README.md", "HTTP/README.md", "Ledger/README.md", "MCP/README.md", "Money/README.md", "Observability/README.md", "Plugins/README.md", "PluginRegistry/README.md", "Policy/README.md", "Providers/README.md", "Proxy/README.md", "Runs/README.md", "Runtime/README.md", "Store/README.md", "Support/README.md", "Tools/README.md"]

/// Release builds check exclusive access statically only: the dynamic checks cost the request
/// path about 3% of its instructions (measured with bench/instructions.sh); debug builds, where
/// every test runs, keep them.
let releaseSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "AEX",
    products: [
        .executable(name: "aex", targets: ["aex"]),
        .library(name: "AEXHost", targets: ["AEXHost"]),
        .library(name: "AEXOpenAICompatible", type: .dynamic, targets: ["OpenAICompatible"]),
        .library(name: "AEXTools", type: .dynamic, targets: ["AEXToolsPlugin"]),
        .library(name: "AEXAnthropic", type: .dynamic, targets: ["AnthropicPlugin"]),
    ],
    targets: [
        // The plugin ABI: one C header, nothing exported.
        .target(name: "AEXPluginAPI", path: "Sources/AEXPluginAPI", exclude: ["README.md"]),

        // Thin C shims, one per system library.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl"),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto"),
        .target(name: "CLinux", path: "Sources/CLinux", exclude: ["README.md"]),

        // The kernel.
        .target(
            name: "AEXHost",
            dependencies: ["AEXPluginAPI", "CSQLite", "CCurl", "CCrypto", "CLinux"],
            path: "Sources/AEXHost",
            exclude: folderReadmes,
            swiftSettings: releaseSettings
        ),
        .executableTarget(name: "aex", dependencies: ["AEXHost"], path: "Sources/aex"),
        // The ledger writer's capacity on its own (bench/proxy.sh runs it after the HTTP rounds).
        .executableTarget(name: "aex-ledger-bench", dependencies: ["AEXHost"], path: "bench/LedgerAppends"),
        // The in-process baseline of bench/tools.sh: the calculator tool's function called directly.
        .executableTarget(name: "aex-tool-bench", dependencies: ["AEXCalculator"], path: "bench/ToolInProcess"),

        // Plugins: dynamic libraries that depend on the ABI header only.
        .target(name: "OpenAICompatible", dependencies: ["AEXPluginAPI"], path: "Plugins/OpenAICompatible", exclude: ["README.md"]),
        .target(name: "AEXToolsPlugin", dependencies: ["AEXPluginAPI", "AEXCalculator"], path: "Plugins/Tools"),
        // The calculator of aex-tools, apart so that its tests link without a plugin's entry point.
        .target(name: "AEXCalculator", path: "Plugins/Calculator"),
        .target(name: "AnthropicPlugin", dependencies: ["AEXPluginAPI", "AEXAnthropicMessages"], path: "Plugins/Anthropic",
                exclude: ["README.md"]),
        // The Messages API translation of `anthropic`, apart so that its tests link without a plugin's entry point.
        .target(name: "AEXAnthropicMessages", path: "Plugins/AnthropicMessages", exclude: ["README.md"]),

        .testTarget(name: "AEXCalculatorTests", dependencies: ["AEXCalculator"], path: "Tests/AEXCalculatorTests"),
        .testTarget(name: "AEXAnthropicMessagesTests", dependencies: ["AEXAnthropicMessages"], path: "Tests/AEXAnthropicMessagesTests"),
        .testTarget(name: "AEXHostTests", dependencies: ["AEXHost", "AEXPluginAPI", "CLinux", "OpenAICompatible"], path: "Tests/AEXHostTests"),
    ],
    swiftLanguageModes: [.v6]
)
