import Foundation
import Testing
@testable import AEXHost

@Suite struct SettingsTests {
    @Test func defaultsAreTheDocumentedOnes() throws {
        let settings = Settings()
        #expect(settings.headerBytesMax == 32_768)
        #expect(settings.bodyBytesMax == 8_388_608)
        #expect(settings.headerReadTimeoutSeconds == 10)
        #expect(settings.bodyReadTimeoutSeconds == 60)
        #expect(settings.idleKeepAliveSeconds == 60)
        #expect(settings.connectionsMax == 4_096)
        #expect(settings.drainTimeoutSeconds == 30)
        #expect(settings.durability == .full)
        #expect(settings.eventLoops == max(1, ProcessInfo.processInfo.activeProcessorCount))
        #expect(settings.upstreamInFlightMax == 1_024)
        #expect(settings.upstreamResponseBytesMax == 33_554_432)
        #expect(settings.upstreamClient == .loop)
        #expect(try Settings.from(environment: ["UNRELATED": "x"]) == settings)
    }

    @Test func everyVariableIsReadIntoItsField() throws {
        let settings = try Settings.from(environment: [
            "AEX_HEADER_BYTES_MAX": "1", "AEX_BODY_BYTES_MAX": "2", "AEX_HEADER_READ_TIMEOUT_SECONDS": "3",
            "AEX_BODY_READ_TIMEOUT_SECONDS": "4", "AEX_IDLE_KEEPALIVE_SECONDS": "5", "AEX_CONNECTIONS_MAX": "6",
            "AEX_DRAIN_TIMEOUT_SECONDS": "7", "AEX_DURABILITY": "normal", "AEX_EVENT_LOOPS": "64",
            "AEX_UPSTREAM_IN_FLIGHT_MAX": "9", "AEX_UPSTREAM_RESPONSE_BYTES_MAX": "10", "AEX_IDEMPOTENCY_TTL_SECONDS": "11",
            "AEX_IDEMPOTENCY_SWEEP_SECONDS": "12", "AEX_IDEMPOTENCY_STORE_BYTES_MAX": "13", "AEX_TOOL_WORKERS_PER_PLUGIN": "14",
            "AEX_TOOL_WORKER_MEMORY_BYTES_MAX": "15", "AEX_TOOL_WORKER_CPU_SECONDS": "16", "AEX_RUN_KILL_GRACE_SECONDS": "17",
            "AEX_UPSTREAM_CLIENT": "curl",
        ])
        #expect(settings.httpServerLimits == HTTPServerLimits(
            headerBytesMax: 1, bodyBytesMax: 2, headerReadTimeoutSeconds: 3, bodyReadTimeoutSeconds: 4,
            idleKeepAliveSeconds: 5, connectionsMax: 6, drainTimeoutSeconds: 7))
        #expect(settings.httpServerLimits.parserLimits == HTTPParserLimits(headerBytesMax: 1, bodyBytesMax: 2))
        #expect(settings.durability == .normal)
        #expect(settings.eventLoops == 64)
        #expect(settings.proxySettings.upstreamInFlightMax == 9)
        #expect(settings.proxySettings.upstreamResponseBytesMax == 10)
        #expect(settings.proxySettings.upstreamClient == .curl)
        #expect(settings.idempotentAnswerLimits == IdempotentAnswerStore.Limits(ttlSeconds: 11, sweepSeconds: 12, bytesMax: 13))
        #expect(settings.toolWorkerLimits == ToolRunner.Limits(workersPerPlugin: 14, memoryBytesMax: 15, cpuSecondsMax: 16))
        #expect(settings.runKillGraceSeconds == 17)
        #expect(Settings.rows.count == 19)
    }

    @Test(arguments: [
        ("AEX_BODY_BYTES_MAX", "0", "AEX_BODY_BYTES_MAX must be a positive integer, got '0'"),
        ("AEX_CONNECTIONS_MAX", "-3", "AEX_CONNECTIONS_MAX must be a positive integer, got '-3'"),
        ("AEX_BODY_READ_TIMEOUT_SECONDS", "soon", "AEX_BODY_READ_TIMEOUT_SECONDS must be a positive integer, got 'soon'"),
        ("AEX_UPSTREAM_IN_FLIGHT_MAX", " 5", "AEX_UPSTREAM_IN_FLIGHT_MAX must be a positive integer, got ' 5'"),
        ("AEX_EVENT_LOOPS", "0", "AEX_EVENT_LOOPS must be 1-64, got '0'"),
        ("AEX_EVENT_LOOPS", "65", "AEX_EVENT_LOOPS must be 1-64, got '65'"),
        ("AEX_DURABILITY", "sometimes", "AEX_DURABILITY must be 'full' or 'normal', got 'sometimes'"),
        ("AEX_DURABILITY", "FULL", "AEX_DURABILITY must be 'full' or 'normal', got 'FULL'"),
        ("AEX_UPSTREAM_CLIENT", "libcurl", "AEX_UPSTREAM_CLIENT must be 'loop' or 'curl', got 'libcurl'"),
    ])
    func anInvalidValueIsRefusedNamingItsVariable(variable: String, text: String, message: String) throws {
        #expect(throws: ConfigurationError(message)) { try Settings.from(environment: [variable: text]) }
    }

    @Test func theFirstInvalidRowInTableOrderIsReported() throws {
        let environment = ["AEX_UPSTREAM_RESPONSE_BYTES_MAX": "x", "AEX_DURABILITY": "x", "AEX_HEADER_BYTES_MAX": "x"]
        #expect(throws: ConfigurationError("AEX_HEADER_BYTES_MAX must be a positive integer, got 'x'")) {
            try Settings.from(environment: environment)
        }
    }

    /// The README's settings table has a row for every setting, with the table's default.
    @Test func theReadmeListsEverySettingWithItsDefault() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../README.md").standardizedFileURL
        let text = try String(contentsOf: readme, encoding: .utf8)
        var documented: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `AEX_") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            documented[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] =
                cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
        }
        for row in Settings.rows {
            let expected = row.variable == "AEX_EVENT_LOOPS" ? "cores" : row.defaultText
            #expect(documented[row.variable] == expected, "README row for \(row.variable)")
        }
        #expect(Set(documented.keys) == Set(Settings.rows.map(\.variable)))
    }
}
