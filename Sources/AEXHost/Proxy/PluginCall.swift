import AEXPluginAPI

/// Runs a provider plugin's hooks for one call: builds the `aex_call` from borrowed views of the
/// host's bytes, passes a fresh `ProviderOutput`, and returns what the plugin wrote.
enum PluginCall {
    struct Failure: Error {
        let message: String
        /// The plugin refused the client's request, not a fault: the 400's code
        /// (`unsupported_parameter` for `AEX_STATUS_INVALID_REQUEST`, `unsupported_endpoint` for
        /// `AEX_STATUS_UNSUPPORTED`); nil for a failure.
        var clientErrorCode: String?
    }

    /// One translated stream event (see `translateStreamEvent`).
    struct StreamEventOutput {
        var emitted: [[UInt8]]
        var prompt: Int64?
        var completion: Int64?
        var usageOnly: Bool
        /// What the plugin keeps for the next event; nil: unchanged.
        var state: [UInt8]?
        /// The answer is complete after this event.
        var ended: Bool
    }

    static func buildRequest(_ plugin: PluginLibrary, _ plan: CallPlan, body: [UInt8], maxOutputTokens: Int64) throws(Failure) -> ProviderOutput {
        let output = ProviderOutput()
        let status = withCall(plan, body: body, maxOutputTokens: maxOutputTokens) { call in
            output.withPointer { plugin.table.pointee.build_request(call, $0) }
        }
        if status == Int32(bitPattern: AEX_STATUS_INVALID_REQUEST.rawValue) {
            throw Failure(message: output.error ?? "the provider cannot serve this request", clientErrorCode: "unsupported_parameter")
        }
        if status == Int32(bitPattern: AEX_STATUS_UNSUPPORTED.rawValue) {
            throw Failure(message: output.error ?? "this model's provider does not serve this endpoint", clientErrorCode: "unsupported_endpoint")
        }
        return try check(status, output, plugin, "build_request")
    }

    static func translateResponse(
        _ plugin: PluginLibrary, _ plan: CallPlan, body: [UInt8], status upstreamStatus: Int, upstreamBody: [UInt8]
    ) throws(Failure) -> ProviderOutput {
        guard let translate = plugin.table.pointee.translate_response else {
            throw Failure(message: "plugin \(plugin.name) cannot translate provider answers")
        }
        let output = ProviderOutput()
        let status = withCall(plan, body: body, maxOutputTokens: 0) { call in
            upstreamBody.withUnsafeBufferPointer { upstream in
                output.withPointer { translate(call, Int32(upstreamStatus), aex_bytes(bytes: upstream.baseAddress, length: upstream.count), $0) }
            }
        }
        return try check(status, output, plugin, "translate_response")
    }

    /// One stream event: the data to send (none: drop it), the usage it reported, whether it only
    /// carried usage, the state the plugin keeps for the next event, and whether the answer ended.
    static func translateStreamEvent(_ plugin: PluginLibrary, _ plan: CallPlan, body: [UInt8], data: [UInt8], state: [UInt8])
        throws(Failure) -> StreamEventOutput {
        guard let translate = plugin.translateStreamEvent else {
            throw Failure(message: "plugin \(plugin.name) cannot translate stream events")
        }
        let output = ProviderOutput()
        let status = withCall(plan, body: body, maxOutputTokens: 0, streamState: state) { call in
            data.withUnsafeBufferPointer { view in
                output.withPointer { translate(call, aex_bytes(bytes: view.baseAddress, length: view.count), $0) }
            }
        }
        let usageOnly = status == Int32(bitPattern: AEX_STATUS_USAGE_ONLY.rawValue)
        guard status == AEX_STATUS_OK.rawValue || usageOnly else {
            throw Failure(message: output.error ?? "plugin \(plugin.name) failed on a stream event (status \(status))")
        }
        guard !output.streamStateTooLarge else {
            throw Failure(message: "plugin \(plugin.name) kept more than \(AEX_STREAM_STATE_BYTES_MAX) bytes of stream state")
        }
        return StreamEventOutput(emitted: output.emitted, prompt: output.promptTokens, completion: output.completionTokens,
                                 usageOnly: usageOnly, state: output.streamState, ended: output.streamEnded)
    }

    private static func check(_ status: Int32?, _ output: ProviderOutput, _ plugin: PluginLibrary, _ hook: String) throws(Failure) -> ProviderOutput {
        guard let status else { throw Failure(message: "plugin \(plugin.name) has no \(hook)") }
        guard status == AEX_STATUS_OK.rawValue else {
            throw Failure(message: output.error ?? "plugin \(plugin.name) failed in \(hook) (status \(status))")
        }
        return output
    }

    private static func withCall<T>(_ plan: CallPlan, body: [UInt8], maxOutputTokens: Int64, streamState: [UInt8] = [],
                                    _ run: (UnsafePointer<aex_call>) -> T) -> T {
        // Native strings lend their UTF-8 in place (no copy for the plugin's borrowed views).
        var alias = plan.alias
        var providerModel = plan.model.providerModel
        var type = plan.provider.type
        return body.withUnsafeBufferPointer { bodyView in streamState.withUnsafeBufferPointer { stateView in
            alias.withUTF8 { aliasView in
                providerModel.withUTF8 { modelView in
                    type.withUTF8 { typeView in
                        var call = aex_call(
                            struct_size: UInt32(MemoryLayout<aex_call>.size), endpoint: plan.endpoint.abiValue,
                            body: aex_bytes(bytes: bodyView.baseAddress, length: bodyView.count),
                            model_alias: aex_bytes(bytes: aliasView.baseAddress, length: aliasView.count),
                            provider_model: aex_bytes(bytes: modelView.baseAddress, length: modelView.count),
                            provider_type: aex_bytes(bytes: typeView.baseAddress, length: typeView.count),
                            max_output_tokens: maxOutputTokens, stream: plan.request.stream,
                            include_stream_usage: plan.request.stream,
                            stream_state: aex_bytes(bytes: stateView.baseAddress, length: stateView.count))
                        return withUnsafePointer(to: &call) { run($0) }
                    }
                }
            }
        }}
    }
}

extension Optional where Wrapped == @convention(c) (UnsafePointer<aex_call>?, OpaquePointer?) -> Int32 {
    func callAsFunction(_ call: UnsafePointer<aex_call>, _ out: OpaquePointer) -> Int32? { self.map { $0(call, out) } }
}
