/// The proxy's part of the operator's settings, each with its unit last. Built from `Settings`
/// (`Gateway/`), which holds their defaults and environment variables.
public struct ProxySettings: Sendable {
    /// Provider calls in flight across the daemon (503 `overloaded` beyond).
    public var upstreamInFlightMax: Int
    /// A provider's answer (502 beyond).
    public var upstreamResponseBytesMax: Int
    /// Which client calls plain-HTTP providers at a numeric address.
    public var upstreamClient: UpstreamClient = .loop
}
