/// JSON-RPC 2.0 as MCP uses it: classifying what a client sent, and the answers. Pure.
enum JSONRPC {
    // The codes JSON-RPC 2.0 defines.
    static let parseError: Int64 = -32700
    static let invalidRequest: Int64 = -32600
    static let methodNotFound: Int64 = -32601
    static let invalidParams: Int64 = -32602
    static let internalError: Int64 = -32603
    /// AEX refused the call (policy, budget, rate limit, a paused agent, overload): an
    /// implementation-defined server error; `data` carries the HTTP status and AEX's code.
    static let refused: Int64 = -32001

    /// One message of a POST body.
    enum Message: Equatable {
        /// A request: answered with its `id`.
        case request(id: JSONValue, method: String, params: JSONValue?)
        /// A notification: never answered.
        case notification(method: String)
        /// A response to a request of the server (AEX sends none): ignored.
        case response
        /// Not a JSON-RPC 2.0 message; `id` when one could be read.
        case invalid(id: JSONValue, reason: String)
    }

    static func classify(_ value: JSONValue) -> Message {
        guard case .object(let object) = value else { return .invalid(id: .null, reason: "a message must be a JSON object") }
        let id = object["id"]
        let answerableID: JSONValue = switch id {
        case .string?, .int?: id!
        default: .null
        }
        guard object["jsonrpc"] == .string("2.0") else { return .invalid(id: answerableID, reason: "'jsonrpc' must be \"2.0\"") }
        if let method = object["method"] {
            guard case .string(let name) = method, !name.isEmpty else {
                return .invalid(id: answerableID, reason: "'method' must be a non-empty string")
            }
            let params = object["params"]
            if let params, params != .null {
                switch params {
                case .object, .array: break
                default: return .invalid(id: answerableID, reason: "'params' must be an object")
                }
            }
            guard let id else { return .notification(method: name) }
            switch id {
            case .string, .int: return .request(id: id, method: name, params: params)
            default: return .invalid(id: .null, reason: "'id' must be a string or an integer")
            }
        }
        if object["result"] != nil || object["error"] != nil, id != nil { return .response }
        return .invalid(id: answerableID, reason: "a message needs a 'method', or a 'result' or 'error' with an 'id'")
    }

    static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        .object(["jsonrpc": .string("2.0"), "id": id, "result": result])
    }

    static func error(id: JSONValue, code: Int64, message: String, data: JSONValue? = nil) -> JSONValue {
        var error: [String: JSONValue] = ["code": .int(code), "message": .string(message)]
        if let data { error["data"] = data }
        return .object(["jsonrpc": .string("2.0"), "id": id, "error": .object(error)])
    }
}
