/// Why a bearer credential was refused (SPEC section 4). All are 401.
public enum AuthFailure: Error, Equatable, Sendable {
    case missing
    case invalid
    case expired

    public var code: String {
        switch self {
        case .missing: return "missing_api_key"
        case .invalid: return "invalid_api_key"
        case .expired: return "expired_api_key"
        }
    }

    public var message: String {
        switch self {
        case .missing: return "missing bearer token: send 'Authorization: Bearer <token>'"
        case .invalid: return "invalid token for this endpoint"
        case .expired: return "this token has expired; rotate it with 'aex agent rotate-token'"
        }
    }

    public var response: HTTPResponse { .error(401, code: code, message: message) }
}
