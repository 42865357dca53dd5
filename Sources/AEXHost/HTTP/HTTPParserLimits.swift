/// Size limits enforced by `HTTPRequestParser` while bytes arrive, never after the fact.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Largest header section: leading empty lines, request line, header lines and the empty
    /// line that ends them. Chunked trailers count toward the same budget.
    public var headerBytesMax: Int
    /// Largest body, as declared by Content-Length or as decoded from chunks.
    public var bodyBytesMax: Int
    /// Most header fields (trailer fields included) in one request (a fixed limit, not a setting).
    public var headerCountMax: Int

    /// The byte limits come from the operator's settings (`HTTPServerLimits.parserLimits`).
    public init(headerBytesMax: Int, bodyBytesMax: Int, headerCountMax: Int = 128) {
        self.headerBytesMax = headerBytesMax
        self.bodyBytesMax = bodyBytesMax
        self.headerCountMax = headerCountMax
    }
}
