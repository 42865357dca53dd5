import AEXPluginAPI

/// The host table handed to every plugin: C functions that copy what they are given into the
/// `ProviderOutput` behind the opaque pointer. Allocated once, never freed (plugins keep it).
enum PluginHostTable {
    /// A plugin's error message is cut to this many characters.
    static let errorCharactersMax = 512

    nonisolated(unsafe) static let shared: UnsafePointer<aex_host_table> = {
        let table = UnsafeMutablePointer<aex_host_table>.allocate(capacity: 1)
        table.initialize(to: aex_host_table(
            struct_size: UInt32(MemoryLayout<aex_host_table>.size),
            abi_major: UInt16(AEX_PLUGIN_ABI_MAJOR),
            abi_minor: UInt16(AEX_PLUGIN_ABI_MINOR),
            log: { level, message in PluginHostTable.logSink?(level, PluginHostTable.string(message)) },
            set_upstream: { out, method, path in
                guard let output = ProviderOutput.from(out) else { return }
                output.method = PluginHostTable.string(method)
                output.path = PluginHostTable.string(path)
            },
            add_upstream_header: { out, name, value in
                ProviderOutput.from(out)?.headers.append((PluginHostTable.string(name), PluginHostTable.string(value)))
            },
            set_body: { out, body in
                guard let output = ProviderOutput.from(out), body.length <= ProviderOutput.bodyBytesMax else { return }
                output.body = PluginHostTable.bytes(body)
            },
            set_local_response: { out, status, contentType in
                guard let output = ProviderOutput.from(out) else { return }
                output.localStatus = Int(status)
                output.localContentType = PluginHostTable.string(contentType)
            },
            set_usage: { out, prompt, completion in
                guard let output = ProviderOutput.from(out) else { return }
                output.promptTokens = prompt >= 0 ? prompt : nil
                output.completionTokens = completion >= 0 ? completion : nil
            },
            set_error: { out, message in
                ProviderOutput.from(out)?.error = String(PluginHostTable.string(message).prefix(PluginHostTable.errorCharactersMax))
            },
            emit: { out, bytes in
                guard let output = ProviderOutput.from(out), bytes.length <= ProviderOutput.bodyBytesMax else { return }
                output.emitted.append(PluginHostTable.bytes(bytes))
            },
            set_cost: { out, cost in
                guard let output = ProviderOutput.from(out), cost >= 0 else { return }
                output.costMicro = cost
            },
            set_stream_state: { out, state in
                guard let output = ProviderOutput.from(out) else { return }
                guard state.length <= Int(AEX_STREAM_STATE_BYTES_MAX) else { return output.streamStateTooLarge = true }
                output.streamState = PluginHostTable.bytes(state)
            },
            end_stream: { out in ProviderOutput.from(out)?.streamEnded = true }
        ))
        return UnsafePointer(table)
    }()

    /// Where plugin log lines go (set once by the daemon before plugins load).
    nonisolated(unsafe) static var logSink: ((Int32, String) -> Void)?

    static func bytes(_ view: aex_bytes) -> [UInt8] {
        guard let base = view.bytes, view.length > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: base, count: view.length))
    }

    static func string(_ view: aex_bytes) -> String {
        guard let base = view.bytes, view.length > 0 else { return "" }
        return String(decoding: UnsafeBufferPointer(start: base, count: view.length), as: UTF8.self)
    }
}
