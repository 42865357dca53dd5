/// Size limits enforced by `HTTPRequestParser` while bytes arrive, never after the fact.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Largest header section: leading empty lines, request line, header lines and the empty
    /// line that ends them. Chunked trailers count toward the same budget.
    public var headerBytesMax: Int = 32 * 1024
    /// Largest body, as declared by Content-Length or as decoded from chunks.
    public var bodyBytesMax: Int = 8 * 1024 * 1024
    /// Most header fields (trailer fields included) in one request.
    public var headerCountMax: Int = 128

    public init(headerBytesMax: Int = 32 * 1024, bodyBytesMax: Int = 8 * 1024 * 1024, headerCountMax: Int = 128) {
        self.headerBytesMax = headerBytesMax
        self.bodyBytesMax = bodyBytesMax
        self.headerCountMax = headerCountMax
    }
}
