import AEXPluginAPI

/// What one provider hook produced, collected through the host callbacks. Owned by the host; the
/// plugin sees it only as the opaque `aex_output` pointer for the duration of the hook.
final class ProviderOutput {
    var method = "POST"
    var path: String?
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    var localStatus: Int?
    var localContentType: String?
    var promptTokens: Int64?
    var completionTokens: Int64?
    var error: String?
    /// Stream events' data to send the client, in order (ABI 1.1 `emit`).
    var emitted: [[UInt8]] = []
    /// A tool call's actual cost in micro-USD (ABI 1.2 `set_cost`), when the tool reported one.
    var costMicro: Int64?
    /// What the plugin keeps for the stream until its next event (ABI 1.3 `set_stream_state`); nil
    /// when it set none during this hook.
    var streamState: [UInt8]?
    /// The plugin set more stream state than `AEX_STREAM_STATE_BYTES_MAX`.
    var streamStateTooLarge = false
    /// The answer is complete after this event (ABI 1.3 `end_stream`).
    var streamEnded = false

    static let bodyBytesMax = 64 * 1024 * 1024

    /// Runs `body` with this output as the `aex_output` pointer and stops accepting writes after.
    func withPointer<T>(_ body: (OpaquePointer) -> T) -> T {
        let pointer = Unmanaged.passUnretained(self).toOpaque()
        return body(OpaquePointer(pointer))
    }

    static func from(_ pointer: OpaquePointer?) -> ProviderOutput? {
        guard let pointer else { return nil }
        return Unmanaged<ProviderOutput>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }
}
