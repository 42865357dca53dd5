/// The HTTP server's part of the operator's settings (SPEC section 13), each with its unit last.
/// Built from `Settings` (`Gateway/`), which holds their defaults and environment variables.
public struct HTTPServerLimits: Sendable, Equatable {
    /// Request line and headers (431 beyond).
    public var headerBytesMax: Int
    /// A request body (413 beyond).
    public var bodyBytesMax: Int
    /// Time to receive the head, and the longest pause in a body (408).
    public var headerReadTimeoutSeconds: Int
    /// The whole body must arrive within this time of the end of the head (408 otherwise), however
    /// short each pause in it (each pause is bounded by `headerReadTimeoutSeconds`).
    public var bodyReadTimeoutSeconds: Int
    /// An idle keep-alive connection is closed after this long.
    public var idleKeepAliveSeconds: Int
    /// Open connections (503 `overloaded` beyond).
    public var connectionsMax: Int
    /// Longest graceful-stop wait for in-flight requests.
    public var drainTimeoutSeconds: Int

    /// Connections the kernel queues for `accept` (a fixed limit, not a setting).
    public static let listenBacklogConnections = 4_096

    public var parserLimits: HTTPParserLimits {
        HTTPParserLimits(headerBytesMax: headerBytesMax, bodyBytesMax: bodyBytesMax)
    }
}
