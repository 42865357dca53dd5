/// The frames between the daemon and a tool worker over their socket pair: a 4-byte big-endian
/// length, then that many bytes of JSON. Requests `{"tool", "arguments", "context"}`; answers
/// `{"ok": true, "result": <JSON>, "cost_micro"?: N}` or `{"ok": false, "error": "..."}`.
enum ToolFrames {
    /// A request frame (the arguments of a call are bounded by the HTTP body limit).
    static let requestBytesMax = 64 * 1024 * 1024

    static func frame(_ payload: [UInt8]) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + payload
    }

    /// The payload of the first whole frame in `buffer` and the bytes it took, nil when more are
    /// needed; `.failure` when the frame is announced larger than `bytesMax`.
    static func take(_ buffer: [UInt8], bytesMax: Int) -> Result<(payload: [UInt8], consumed: Int), FrameTooLarge>? {
        guard buffer.count >= 4 else { return nil }
        let length = Int(buffer[0]) << 24 | Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
        guard length <= bytesMax else { return .failure(FrameTooLarge(bytes: length)) }
        guard buffer.count >= 4 + length else { return nil }
        return .success((Array(buffer[4..<(4 + length)]), 4 + length))
    }

    struct FrameTooLarge: Error {
        let bytes: Int
    }

    /// `allowedHosts`: for a network tool, the hosts it may reach (in the context).
    static func request(tool: String, arguments: JSONValue, executionID: String, agent: String, allowedHosts: [String] = []) -> [UInt8] {
        var context: [String: JSONValue] = ["execution_id": .string(executionID), "agent": .string(agent)]
        if !allowedHosts.isEmpty { context["allowed_hosts"] = .array(allowedHosts.map { .string($0) }) }
        return frame(Array(JSONValue.object(["tool": .string(tool), "arguments": arguments, "context": .object(context)]).canonicalText.utf8))
    }

    /// What a worker answered.
    enum Answer: Equatable {
        case result(JSONValue, costMicro: Int64?)
        case failed(String)
    }

    static func answer(_ payload: [UInt8]) -> Answer {
        guard case .object(let object)? = try? JSONReader.parse(payload), case .bool(let ok)? = object["ok"] else {
            return .failed("the tool's worker sent an unreadable answer")
        }
        guard ok, let result = object["result"] else {
            if case .string(let message)? = object["error"] { return .failed(message) }
            return .failed("the tool failed")
        }
        var cost: Int64?
        if case .int(let micro)? = object["cost_micro"], micro >= 0 { cost = micro }
        return .result(result, costMicro: cost)
    }

    static func encode(_ answer: Answer) -> [UInt8] {
        let value: JSONValue = switch answer {
        case .result(let result, let cost):
            cost.map { .object(["ok": .bool(true), "result": result, "cost_micro": .int($0)]) } ?? .object(["ok": .bool(true), "result": result])
        case .failed(let message): .object(["ok": .bool(false), "error": .string(message)])
        }
        return frame(Array(value.canonicalText.utf8))
    }
}
