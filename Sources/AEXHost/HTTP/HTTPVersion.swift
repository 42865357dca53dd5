/// The HTTP versions the parser accepts; any other is `HTTPParseError.versionNotSupported`.
public enum HTTPVersion: Sendable, Equatable {
    case http10
    case http11
}
