import AEXAnthropicMessages
import AEXPluginAPI
import Glibc

// The `anthropic` provider plugin (provider type `anthropic`): chat completions to Anthropic's
// Messages API (`POST <base_url>/messages`).
//
// The translation is in AEXAnthropicMessages; this file is the ABI glue. The host sends the
// request, puts the key in `x-api-key` (the table's key_header) and applies every limit; the plugin
// adds `anthropic-version`. Nothing here does I/O or keeps per-call state (a stream's state goes
// through the host's set_stream_state), and no Swift error or trap crosses the C boundary.

/// The Messages API version this plugin speaks.
private let anthropicVersion: StaticString = "2023-06-01"

/// The host's table, kept from the first successful `aex_plugin_entry`. Owner: host.
nonisolated(unsafe) private var hostTable: UnsafePointer<aex_host_table>?

nonisolated(unsafe) private let pluginTable: UnsafeMutablePointer<aex_plugin_table> = {
    let table = UnsafeMutablePointer<aex_plugin_table>.allocate(capacity: 1)
    table.initialize(to: aex_plugin_table(
        struct_size: UInt32(MemoryLayout<aex_plugin_table>.size),
        abi_major: UInt16(AEX_PLUGIN_ABI_MAJOR),
        abi_minor: UInt16(AEX_PLUGIN_ABI_MINOR),
        kind: AEX_PLUGIN_KIND_PROVIDER.rawValue,
        name: cString("anthropic"),
        version: cString("0.1.0"),
        provides: cString("anthropic"),
        build_request: anthropicBuildRequest,
        translate_response: anthropicTranslateResponse,
        translate_stream_event: anthropicTranslateStreamEvent,
        tools: nil,
        run_tool: nil,
        key_header: cString("x-api-key"),
        flags: AEX_PLUGIN_FLAG_UNNAMED_EVENTS | AEX_PLUGIN_FLAG_TRANSLATES_ERRORS
    ))
    return table
}()

private func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    s.utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 }
}

/// The entry point: the static table, or nil for a host without ABI 1.3's functions.
@_cdecl("aex_plugin_entry")
public func aexPluginEntry(_ host: UnsafePointer<aex_host_table>?) -> UnsafePointer<aex_plugin_table>? {
    guard let host else { return nil }
    let preamble = UnsafeRawPointer(host)
    let structSize = preamble.load(as: UInt32.self)
    let abiMajor = preamble.load(fromByteOffset: 4, as: UInt16.self)
    guard abiMajor == UInt16(AEX_PLUGIN_ABI_MAJOR), Int(structSize) >= MemoryLayout<aex_host_table>.size else { return nil }
    if hostTable == nil { hostTable = host }
    return UnsafePointer(pluginTable)
}

// MARK: Hooks

private let statusOK = Int32(bitPattern: AEX_STATUS_OK.rawValue)
private let statusError = Int32(bitPattern: AEX_STATUS_ERROR.rawValue)
private let statusUnsupported = Int32(bitPattern: AEX_STATUS_UNSUPPORTED.rawValue)
private let statusUsageOnly = Int32(bitPattern: AEX_STATUS_USAGE_ONLY.rawValue)
private let statusInvalidRequest = Int32(bitPattern: AEX_STATUS_INVALID_REQUEST.rawValue)

private func anthropicBuildRequest(_ call: UnsafePointer<aex_call>?, _ out: OpaquePointer?) -> Int32 {
    guard let host = hostTable, let out else { return statusError }
    guard let call = completeCall(call) else { return fail(host, out, "call description missing or too small") }
    guard call.endpoint == AEX_ENDPOINT_CHAT_COMPLETIONS.rawValue else {
        report(host, out, "Anthropic models serve /v1/chat/completions only")
        return statusUnsupported  // the host answers 400 unsupported_endpoint
    }
    guard let body = bytes(call.body), let model = text(call.provider_model), !model.isEmpty else {
        return fail(host, out, "call carries an invalid byte view")
    }
    let upstream: JSON
    do {
        guard let request = try? JSON.parse(body) else { return invalid(host, out, "the request body is not valid JSON") }
        upstream = try MessagesRequest.translate(body: request, providerModel: model, maxOutputTokens: call.max_output_tokens,
                                                 stream: call.stream)
    } catch {
        return invalid(host, out, error.message)
    }
    let table = host.pointee
    guard let setUpstream = table.set_upstream, let addHeader = table.add_upstream_header, let setBody = table.set_body else {
        return fail(host, out, "host lacks the build_request callbacks")
    }
    setUpstream(out, staticBytes("POST"), staticBytes("/messages"))
    addHeader(out, staticBytes("content-type"), staticBytes("application/json"))
    addHeader(out, staticBytes("anthropic-version"), staticBytes(anthropicVersion))
    upstream.bytes.withUnsafeBufferPointer { setBody(out, aex_bytes(bytes: $0.baseAddress, length: $0.count)) }
    return statusOK
}

/// 2xx: the message as a chat completion, and its usage. Other statuses (the table's
/// TRANSLATES_ERRORS flag): the error body, OpenAI-shaped.
private func anthropicTranslateResponse(_ call: UnsafePointer<aex_call>?, _ status: Int32, _ body: aex_bytes,
                                        _ out: OpaquePointer?) -> Int32 {
    guard let host = hostTable, let out else { return statusError }
    guard let call = completeCall(call) else { return fail(host, out, "call description missing or too small") }
    guard let upstream = bytes(body), let alias = text(call.model_alias), !alias.isEmpty else {
        return fail(host, out, "call carries an invalid byte view")
    }
    guard let setBody = host.pointee.set_body, let setUsage = host.pointee.set_usage else {
        return fail(host, out, "host lacks the translate_response callbacks")
    }
    guard (200..<300).contains(status) else {
        guard let translated = MessagesResponse.translateError(body: upstream) else {
            return fail(host, out, "provider error answer is not a Messages API error")
        }
        translated.withUnsafeBufferPointer { setBody(out, aex_bytes(bytes: $0.baseAddress, length: $0.count)) }
        return statusOK
    }
    let translation: MessagesResponse.Translation
    do {
        translation = try MessagesResponse.translate(body: upstream, alias: alias, createdSeconds: Int64(time(nil)))
    } catch {
        return fail(host, out, "provider returned an answer that is not a Messages API message")
    }
    translation.body.withUnsafeBufferPointer { setBody(out, aex_bytes(bytes: $0.baseAddress, length: $0.count)) }
    setUsage(out, translation.usage.promptTokens ?? -1, translation.usage.completionTokens ?? -1)
    return statusOK
}

private func anthropicTranslateStreamEvent(_ call: UnsafePointer<aex_call>?, _ data: aex_bytes, _ out: OpaquePointer?) -> Int32 {
    guard let host = hostTable, let out else { return statusError }
    let table = host.pointee
    guard let emit = table.emit, let setUsage = table.set_usage, let setState = table.set_stream_state,
          let endStream = table.end_stream else { return fail(host, out, "host lacks the stream callbacks") }
    guard let call = completeCall(call) else { return fail(host, out, "call description missing or too small") }
    guard call.endpoint == AEX_ENDPOINT_CHAT_COMPLETIONS.rawValue else {
        report(host, out, "anthropic streams chat completions only")
        return statusUnsupported
    }
    guard let event = bytes(data), let alias = text(call.model_alias), !alias.isEmpty, let kept = bytes(call.stream_state) else {
        return fail(host, out, "call carries an invalid byte view")
    }
    let state = kept.isEmpty ? nil : MessagesStream.State(bytes: kept)
    guard kept.isEmpty || state != nil else { return fail(host, out, "stream state unreadable") }
    let output: MessagesStream.Output
    do {
        output = try MessagesStream.translate(data: event, alias: alias, state: state, nowSeconds: Int64(time(nil)))
    } catch {
        reportText(host, out, error.message)
        return statusError
    }
    if let next = output.state {
        next.bytes.withUnsafeBufferPointer { setState(out, aex_bytes(bytes: $0.baseAddress, length: $0.count)) }
    }
    if output.promptTokens != nil || output.completionTokens != nil {
        setUsage(out, output.promptTokens ?? -1, output.completionTokens ?? -1)
    }
    for chunk in output.emitted {
        chunk.withUnsafeBufferPointer { emit(out, aex_bytes(bytes: $0.baseAddress, length: $0.count)) }
    }
    if output.ended { endStream(out) }
    return output.usageOnly ? statusUsageOnly : statusOK
}

// MARK: Boundary helpers

/// The call, copied, when its struct_size shows every field this plugin reads (ABI 1.3).
private func completeCall(_ call: UnsafePointer<aex_call>?) -> aex_call? {
    guard let call else { return nil }
    let size = UnsafeRawPointer(call).load(as: UInt32.self)
    guard Int(size) >= MemoryLayout<aex_call>.size else { return nil }
    return call.pointee
}

/// A copy of borrowed bytes; nil for a null pointer with a length, or a negative length.
private func bytes(_ view: aex_bytes) -> [UInt8]? {
    guard view.length >= 0 else { return nil }
    guard view.length > 0 else { return [] }
    guard let start = view.bytes else { return nil }
    return Array(UnsafeBufferPointer(start: start, count: view.length))
}

private func text(_ view: aex_bytes) -> String? {
    bytes(view).map { String(decoding: $0, as: UTF8.self) }
}

private func staticBytes(_ s: StaticString) -> aex_bytes {
    aex_bytes(bytes: s.utf8Start, length: s.utf8CodeUnitCount)
}

private func report(_ host: UnsafePointer<aex_host_table>, _ out: OpaquePointer, _ message: StaticString) {
    host.pointee.set_error?(out, staticBytes(message))
}

private func reportText(_ host: UnsafePointer<aex_host_table>, _ out: OpaquePointer, _ message: String) {
    var message = message
    message.withUTF8 { host.pointee.set_error?(out, aex_bytes(bytes: $0.baseAddress, length: $0.count)) }
}

private func fail(_ host: UnsafePointer<aex_host_table>, _ out: OpaquePointer, _ message: StaticString) -> Int32 {
    report(host, out, message)
    return statusError
}

private func invalid(_ host: UnsafePointer<aex_host_table>, _ out: OpaquePointer, _ message: String) -> Int32 {
    reportText(host, out, message)
    return statusInvalidRequest
}
