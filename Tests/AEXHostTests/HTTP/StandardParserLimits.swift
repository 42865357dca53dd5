@testable import AEXHost

extension HTTPParserLimits {
    /// The daemon's defaults (`Settings`): where the parser tests start.
    static let standard = Settings().httpServerLimits.parserLimits

    /// These limits with some of them replaced.
    func with(headerBytesMax: Int? = nil, bodyBytesMax: Int? = nil, headerCountMax: Int? = nil) -> HTTPParserLimits {
        HTTPParserLimits(headerBytesMax: headerBytesMax ?? self.headerBytesMax, bodyBytesMax: bodyBytesMax ?? self.bodyBytesMax,
                         headerCountMax: headerCountMax ?? self.headerCountMax)
    }
}

extension HTTPRequestParser {
    /// A parser with the daemon's default limits.
    init() { self.init(limits: .standard) }
}
