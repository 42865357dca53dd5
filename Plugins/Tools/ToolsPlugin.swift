import AEXCalculator
import AEXPluginAPI
import Foundation

/// The `aex-tools` tool plugin: the tools that ship with AEX, run in tool worker processes (never
/// in the daemon). `calculator` (exact decimal arithmetic, `Calculator`), `current_time` and
/// `http_get` (`HTTPGetTool`; off unless `tools.yaml` allows hosts).
/// Arguments arrive already checked against each tool's `parameters` schema.

/// The tools, described for the host (ABI 1.2 `tools`): static, NUL-terminated.
private let toolsJSON: StaticString = """
[{"name":"calculator","description":"Evaluate an arithmetic expression exactly (decimal numbers, + - * /, parentheses, integer powers with ^). Division that does not terminate is rounded to 32 decimal places.","parameters":{"type":"object","properties":{"expression":{"type":"string","minLength":1,"maxLength":1000,"description":"for example (1.5 + 2) * 3^2 / 7"}},"required":["expression"],"additionalProperties":false},"price_micro":10,"timeout_ms":2000,"output_bytes_max":4096,"network":false},\
{"name":"current_time","description":"The current date and time, in UTC or a named time zone (IANA name such as Europe/Paris).","parameters":{"type":"object","properties":{"timezone":{"type":"string","minLength":1,"maxLength":64,"description":"an IANA time zone; UTC when omitted"}},"additionalProperties":false},"price_micro":5,"timeout_ms":2000,"output_bytes_max":1024,"network":false},\
{"name":"http_get","description":"Fetch a web page or text document with an HTTP GET, from the hosts the operator allows in tools.yaml. Text only; long bodies are cut.","parameters":{"type":"object","properties":{"url":{"type":"string","minLength":1,"maxLength":2048,"description":"an http or https URL"}},"required":["url"],"additionalProperties":false},"price_micro":100,"timeout_ms":15000,"output_bytes_max":2097152,"network":true}]
"""

/// The host's table, kept from `aex_plugin_entry`. Owner: host; valid until the process exits.
nonisolated(unsafe) private var hostTable: UnsafePointer<aex_host_table>?

nonisolated(unsafe) private let pluginTable: UnsafeMutablePointer<aex_plugin_table> = {
    let table = UnsafeMutablePointer<aex_plugin_table>.allocate(capacity: 1)
    table.initialize(to: aex_plugin_table(
        struct_size: UInt32(MemoryLayout<aex_plugin_table>.size),
        abi_major: UInt16(AEX_PLUGIN_ABI_MAJOR),
        abi_minor: UInt16(AEX_PLUGIN_ABI_MINOR),
        kind: AEX_PLUGIN_KIND_TOOL.rawValue,
        name: StaticString("aex-tools").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        version: StaticString("0.2.0").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        provides: StaticString("").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        build_request: nil,
        translate_response: nil,
        translate_stream_event: nil,
        tools: toolsJSON.utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        run_tool: aexToolsRun,
        key_header: nil,
        flags: 0
    ))
    return table
}()

@_cdecl("aex_plugin_entry")
public func aexPluginEntry(_ host: UnsafePointer<aex_host_table>?) -> UnsafePointer<aex_plugin_table>? {
    guard let host, host.pointee.abi_major == UInt16(AEX_PLUGIN_ABI_MAJOR) else { return nil }
    hostTable = host
    return UnsafePointer(pluginTable)
}

private func text(_ bytes: aex_bytes) -> String {
    guard let base = bytes.bytes, bytes.length > 0 else { return "" }
    return String(decoding: UnsafeBufferPointer(start: base, count: bytes.length), as: UTF8.self)
}

private func send(_ value: String, _ out: OpaquePointer?, error: Bool) -> Int32 {
    guard let host = hostTable else { return Int32(AEX_STATUS_ERROR.rawValue) }
    var bytes = Array(value.utf8)
    bytes.withUnsafeMutableBufferPointer { buffer in
        let view = aex_bytes(bytes: UnsafePointer(buffer.baseAddress), length: buffer.count)
        if error { host.pointee.set_error(out, view) } else { host.pointee.set_body(out, view) }
    }
    return Int32((error ? AEX_STATUS_ERROR : AEX_STATUS_OK).rawValue)
}

/// A JSON string literal for `value`.
private func quoted(_ value: String) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

private let aexToolsRun: @convention(c) (UnsafePointer<aex_tool_call>?, OpaquePointer?) -> Int32 = { call, out in
    guard let call else { return Int32(AEX_STATUS_ERROR.rawValue) }
    let name = text(call.pointee.tool_name)
    let arguments = (try? JSONSerialization.jsonObject(with: Data(text(call.pointee.arguments).utf8))) as? [String: Any] ?? [:]
    switch name {
    case "calculator":
        guard let expression = arguments["expression"] as? String else { return send("'expression' must be a string", out, error: true) }
        switch Calculator.evaluate(expression) {
        case .success(let result): return send("{\"result\":\(quoted(result))}", out, error: false)
        case .failure(let failure): return send(failure.message, out, error: true)
        }
    case "current_time":
        let zoneName = arguments["timezone"] as? String ?? "UTC"
        guard let zone = TimeZone(identifier: zoneName) else { return send("unknown time zone '\(zoneName)'", out, error: true) }
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = zone
        formatter.formatOptions = [.withInternetDateTime]
        return send("{\"iso8601\":\(quoted(formatter.string(from: Date()))),\"timezone\":\(quoted(zoneName))}", out, error: false)
    case "http_get":
        guard let urlText = arguments["url"] as? String else { return send("'url' must be a string", out, error: true) }
        let context = (try? JSONSerialization.jsonObject(with: Data(text(call.pointee.context).utf8))) as? [String: Any] ?? [:]
        let allowed = context["allowed_hosts"] as? [String] ?? []
        do {
            let result = try HTTPGetTool.fetch(urlText, allowedHosts: allowed)
            guard let data = try? JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]) else {
                return send("the page could not be encoded", out, error: true)
            }
            return send(String(decoding: data, as: UTF8.self), out, error: false)
        } catch let failure as HTTPGetTool.Failure {
            guard case .refused(let reason) = failure else { return send("the request failed", out, error: true) }
            return send(reason, out, error: true)
        } catch {
            return send("the request failed", out, error: true)
        }
    default:
        return send("no tool named '\(name)'", out, error: true)
    }
}
