/// Which client calls plain-HTTP providers at a numeric address (`AEX_UPSTREAM_CLIENT`).
public enum UpstreamClient: String, Sendable, CaseIterable {
    /// The event loop's own HTTP/1.1 client (`PlainHTTPClient`); libcurl for everything else.
    case loop
    /// libcurl for every provider.
    case curl
}
