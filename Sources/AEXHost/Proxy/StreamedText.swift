/// An upper bound of the output tokens one stream event carried, for a stream that ends without
/// the provider's usage (SPEC §7: the client left, the provider failed). Pure.
///
/// The text of an event is what its deltas hold: chat completions' `choices[].delta` (content,
/// refusal, tool-call arguments, reasoning) and the Responses API's top-level `delta`. A token is
/// at least one byte of text, and an event with a delta carries at least one token, so the bound
/// is the delta strings' UTF-8 bytes plus one. Envelope fields (ids, model, object) are not text.
/// Data that is not a JSON object counts in full.
enum StreamedText {
    static func tokensBound(_ data: [UInt8]) -> Int64 {
        guard let tape = try? JSONTape.parse(data), tape.kind(JSONTape.root) == .object else { return Int64(data.count) }
        var bytes: Int64 = 0
        var deltas: Int64 = 0
        if let delta = tape.member(JSONTape.root, "delta") {
            bytes &+= tape.kind(delta) == .string ? Int64(tape.nodes[delta].count) : tape.stringValueBytes(delta)
            deltas = 1
        }
        if let choices = tape.member(JSONTape.root, "choices"), tape.kind(choices) == .array {
            tape.forEachItem(choices) { choice in
                guard tape.kind(choice) == .object, let delta = tape.member(choice, "delta") else { return }
                bytes &+= tape.stringValueBytes(delta)
                deltas &+= 1
            }
        }
        return bytes &+ deltas
    }
}
