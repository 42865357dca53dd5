import AEXPluginAPI

// The `openai-compatible` provider plugin (provider type `openai_compatible`).
//
// It describes the upstream request and translates the answer; the host sends the request, adds
// the provider key and applies every limit. Nothing here does I/O, keeps per-call state, or lets a
// Swift error or trap cross the C boundary: hooks check every input and return an `aex_status`.
// The hooks share no mutable state, so the host may run them on any number of threads at once.

/// The host's table, kept from the first successful `aex_plugin_entry` (the host calls it once,
/// before any hook). Owner: host; valid until the process exits.
nonisolated(unsafe) private var hostTable: UnsafePointer<aex_host_table>?

nonisolated(unsafe) private let pluginTable: UnsafeMutablePointer<aex_plugin_table> = {
    let table = UnsafeMutablePointer<aex_plugin_table>.allocate(capacity: 1)
    table.initialize(to: aex_plugin_table(
        struct_size: UInt32(MemoryLayout<aex_plugin_table>.size),
        abi_major: UInt16(AEX_PLUGIN_ABI_MAJOR),
        abi_minor: UInt16(AEX_PLUGIN_ABI_MINOR),
        kind: AEX_PLUGIN_KIND_PROVIDER.rawValue,
        name: StaticString("openai-compatible").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        version: StaticString("0.1.0").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        provides: StaticString("openai_compatible").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        build_request: openAICompatibleBuildRequest,
        translate_response: openAICompatibleTranslateResponse,
        translate_stream_event: openAICompatibleTranslateStreamEvent,
        tools: nil,
        run_tool: nil,
        key_header: nil,
        flags: 0
    ))
    return table
}()

/// The entry point: the plugin's static table, or nil for a host this plugin cannot work with
/// (no table, another ABI major, or a table smaller than ABI 1.0's).
@_cdecl("aex_plugin_entry")
public func aexPluginEntry(_ host: UnsafePointer<aex_host_table>?) -> UnsafePointer<aex_plugin_table>? {
    guard let host else { return nil }
    // Read the preamble alone before trusting the rest of the table's layout.
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

/// `build_request`: POST to the endpoint's path, `content-type: application/json`, and the client's
/// body with the edits of `RequestRewriter`. Never sets Authorization (the host adds the key).
private func openAICompatibleBuildRequest(_ call: UnsafePointer<aex_call>?, _ out: OpaquePointer?) -> Int32 {
    guard let host = hostTable, let out else { return statusError }
    guard let call = completeCall(call) else { return fail(host, out, "call description missing or too small") }
    guard let endpoint = OpenAIEndpoint(rawValue: call.endpoint) else {
        report(host, out, "openai-compatible does not serve this endpoint")
        return statusUnsupported
    }
    guard let body = view(call.body), let providerModel = view(call.provider_model) else {
        return fail(host, out, "call carries an invalid byte view")
    }
    guard !providerModel.isEmpty else { return fail(host, out, "provider model is empty") }
    guard let upstream = RequestRewriter.rewrite(body: body, endpoint: endpoint, providerModel: providerModel,
                                                 maxOutputTokens: call.max_output_tokens, stream: call.stream,
                                                 includeStreamUsage: call.include_stream_usage) else {
        return fail(host, out, "request body is not a JSON object")
    }
    let table = host.pointee
    guard let setUpstream = table.set_upstream, let addHeader = table.add_upstream_header,
          let setBody = table.set_body else { return fail(host, out, "host lacks the build_request callbacks") }
    setUpstream(out, staticBytes("POST"), staticBytes(endpoint.path))
    addHeader(out, staticBytes("content-type"), staticBytes("application/json"))
    upstream.withUnsafeBufferPointer { setBody(out, aex_bytes(bytes: $0.baseAddress, length: $0.count)) }
    return statusOK
}

/// `translate_response` (2xx answers only): the upstream body with the alias as `model`, and the usage.
private func openAICompatibleTranslateResponse(_ call: UnsafePointer<aex_call>?, _ status: Int32, _ body: aex_bytes,
                                               _ out: OpaquePointer?) -> Int32 {
    guard let host = hostTable, let out else { return statusError }
    guard let call = completeCall(call) else { return fail(host, out, "call description missing or too small") }
    guard let endpoint = OpenAIEndpoint(rawValue: call.endpoint) else {
        report(host, out, "openai-compatible does not serve this endpoint")
        return statusUnsupported
    }
    guard let upstream = view(body), let alias = view(call.model_alias) else {
        return fail(host, out, "call carries an invalid byte view")
    }
    guard !alias.isEmpty else { return fail(host, out, "model alias is empty") }
    guard let translation = ResponseRewriter.translate(body: upstream, endpoint: endpoint, modelAlias: alias) else {
        return fail(host, out, "provider returned malformed JSON")
    }
    let table = host.pointee
    guard let setBody = table.set_body, let setUsage = table.set_usage else {
        return fail(host, out, "host lacks the translate_response callbacks")
    }
    translation.body.withUnsafeBufferPointer { setBody(out, aex_bytes(bytes: $0.baseAddress, length: $0.count)) }
    // (-1, -1) when the provider reported no usable usage: unknown, charged at the reserved amount.
    setUsage(out, translation.usage.promptTokens, translation.usage.completionTokens)
    return statusOK
}

/// `translate_stream_event` (ABI 1.1): one chunk of a streamed chat completion, with the alias as
/// `model`; usage reported when the chunk has it; the usage-only chunk marked as such.
private func openAICompatibleTranslateStreamEvent(_ call: UnsafePointer<aex_call>?, _ data: aex_bytes,
                                                  _ out: OpaquePointer?) -> Int32 {
    guard let host = hostTable, let out else { return statusError }
    guard Int(host.pointee.struct_size) >= MemoryLayout<aex_host_table>.size, let emit = host.pointee.emit,
          let setUsage = host.pointee.set_usage else { return fail(host, out, "host lacks the stream callbacks") }
    guard let call = completeCall(call) else { return fail(host, out, "call description missing or too small") }
    let isChat = call.endpoint == AEX_ENDPOINT_CHAT_COMPLETIONS.rawValue
    guard isChat || call.endpoint == AEX_ENDPOINT_RESPONSES.rawValue else {
        report(host, out, "openai-compatible streams chat completions and responses only")
        return statusUnsupported
    }
    guard let bytes = view(data), let alias = view(call.model_alias), !alias.isEmpty else {
        return fail(host, out, "call carries an invalid byte view")
    }
    let translated = isChat ? StreamRewriter.translate(data: bytes, modelAlias: alias)
                            : StreamRewriter.translateResponsesEvent(data: bytes, modelAlias: alias)
    guard let chunk = translated else {
        return fail(host, out, "provider sent a malformed stream event")
    }
    if chunk.usage != .unknown { setUsage(out, chunk.usage.promptTokens, chunk.usage.completionTokens) }
    chunk.data.withUnsafeBufferPointer { emit(out, aex_bytes(bytes: $0.baseAddress, length: $0.count)) }
    return chunk.usageOnly ? statusUsageOnly : statusOK
}

// MARK: Boundary helpers

/// The call, copied, when its struct_size shows every ABI 1.0 field; read the size alone first.
private func completeCall(_ call: UnsafePointer<aex_call>?) -> aex_call? {
    guard let call else { return nil }
    let size = UnsafeRawPointer(call).load(as: UInt32.self)
    guard Int(size) >= MemoryLayout<aex_call>.size else { return nil }
    return call.pointee
}

/// A view of borrowed bytes; nil for a null pointer with a length, or a negative length.
private func view(_ bytes: aex_bytes) -> UnsafeRawBufferPointer? {
    guard bytes.length >= 0 else { return nil }
    guard bytes.length > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
    guard let start = bytes.bytes else { return nil }
    return UnsafeRawBufferPointer(start: start, count: bytes.length)
}

private func staticBytes(_ s: StaticString) -> aex_bytes {
    aex_bytes(bytes: s.utf8Start, length: s.utf8CodeUnitCount)
}

private func report(_ host: UnsafePointer<aex_host_table>, _ out: OpaquePointer, _ message: StaticString) {
    host.pointee.set_error?(out, staticBytes(message))
}

private func fail(_ host: UnsafePointer<aex_host_table>, _ out: OpaquePointer, _ message: StaticString) -> Int32 {
    report(host, out, message)
    return statusError
}
