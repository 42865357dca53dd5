import AEXPluginAPI

/// The `aex-tools` tool plugin: the tools that ship with AEX.
/// ABI 1.0 carries only its self-description; the tool hooks arrive with the tool ABI.
nonisolated(unsafe) private let pluginTable: UnsafeMutablePointer<aex_plugin_table> = {
    let table = UnsafeMutablePointer<aex_plugin_table>.allocate(capacity: 1)
    table.initialize(to: aex_plugin_table(
        struct_size: UInt32(MemoryLayout<aex_plugin_table>.size),
        abi_major: UInt16(AEX_PLUGIN_ABI_MAJOR),
        abi_minor: UInt16(AEX_PLUGIN_ABI_MINOR),
        kind: AEX_PLUGIN_KIND_TOOL.rawValue,
        name: StaticString("aex-tools").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        version: StaticString("0.1.0").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        provides: StaticString("").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 },
        build_request: nil,
        translate_response: nil,
        translate_stream_event: nil
    ))
    return table
}()

@_cdecl("aex_plugin_entry")
public func aexPluginEntry(_ host: UnsafePointer<aex_host_table>?) -> UnsafePointer<aex_plugin_table>? {
    guard let host, host.pointee.abi_major == UInt16(AEX_PLUGIN_ABI_MAJOR) else { return nil }
    return UnsafePointer(pluginTable)
}
