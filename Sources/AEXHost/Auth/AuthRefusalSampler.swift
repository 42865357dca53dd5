/// Decides which refused credentials become ledger rows. Pure: the caller gives the clock and
/// holds the lock. A client without a valid token must not be able to grow the database at will,
/// so refusals before authentication are counted, and at most `rowsPerWindow` of them per
/// `windowMilliseconds` are recorded; each recorded row carries how many went unrecorded before it.
public struct AuthRefusalSampler: Sendable, Equatable {
    public static let windowMilliseconds: Int64 = 60_000
    public static let rowsPerWindow = 60
    /// A recorded refusal names at most this many bytes of the request path (no query).
    public static let endpointBytesMax = 64

    private var windowStartMillis: Int64?
    private var rowsInWindow = 0
    /// Refusals not recorded since the last recorded one.
    private(set) var unrecorded: Int64 = 0
    /// Every refusal seen, recorded or not.
    public private(set) var total: Int64 = 0

    public init() {}

    /// Counts one refusal. Returns nil when it is not to be recorded, else how many refusals went
    /// unrecorded before it (to record with it).
    public mutating func refusal(nowMillis: Int64) -> Int64? {
        total &+= 1
        if let start = windowStartMillis, nowMillis >= start, nowMillis - start < Self.windowMilliseconds {
            // Still in the current window.
        } else {
            windowStartMillis = nowMillis
            rowsInWindow = 0
        }
        guard rowsInWindow < Self.rowsPerWindow else {
            unrecorded &+= 1
            return nil
        }
        rowsInWindow += 1
        defer { unrecorded = 0 }
        return unrecorded
    }

    /// The path as recorded: no query, at most `endpointBytesMax` bytes (cut at a character), and
    /// only printable ASCII (anything else becomes `?`).
    public static func recordedEndpoint(_ path: String) -> String {
        var bytes: [UInt8] = []
        for byte in path.utf8 {
            if byte == UInt8(ascii: "?") || bytes.count >= endpointBytesMax { break }
            bytes.append(byte >= 0x20 && byte < 0x7f ? byte : UInt8(ascii: "?"))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
