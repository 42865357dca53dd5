/// Why a management operation failed. Each case has a stable code, an HTTP status and a message
/// that is safe to show (it never contains a token).
public enum ManagementError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(String)
    case alreadyExists(String)
    case invalid(String)
    case storeFailed(String)

    public var code: String {
        switch self {
        case .notFound: return "agent_not_found"
        case .alreadyExists: return "agent_exists"
        case .invalid: return "invalid_request"
        case .storeFailed: return "internal_error"
        }
    }

    public var status: Int {
        switch self {
        case .notFound: return 404
        case .alreadyExists: return 409
        case .invalid: return 400
        case .storeFailed: return 500
        }
    }

    public var description: String {
        switch self {
        case .notFound(let name): return "no agent named '\(name)'"
        case .alreadyExists(let name): return "an agent named '\(name)' already exists"
        case .invalid(let reason): return reason
        case .storeFailed(let reason): return "the database refused the change: \(reason)"
        }
    }

    public init(code: String, message: String) {
        switch code {
        case "agent_not_found": self = .notFound(message)
        case "agent_exists": self = .alreadyExists(message)
        case "invalid_request": self = .invalid(message)
        default: self = .storeFailed(message)
        }
    }
}
