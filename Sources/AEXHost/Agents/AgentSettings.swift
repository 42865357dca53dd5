/// The settable parts of an agent, as `agent create` and `agent update` give them. Every field is
/// optional: on create a missing field takes its default; on update it stays unchanged.
/// `models`/`tools` are doubly optional: `.some(nil)` means "allow everything".
public struct AgentSettings: Sendable, Equatable {
    public var budget: MicroUSD?
    public var addBudget: MicroUSD?
    public var rpm: Int64?
    public var tpm: Int64??
    public var models: [String]??
    public var tools: [String]??
    public var streaming: Bool?
    public var vision: Bool?
    public var maxTokens: Int64??
    public var passthrough: Bool?
    public var readOnly: Bool?
    /// Token lifetime in seconds from now; `.some(nil)` removes the expiry.
    public var ttlSeconds: Int64??

    public init() {}

    /// Largest `rpm` and `tpm` (requests or tokens per minute).
    public static let ratePerMinuteMax: Int64 = 100_000_000
    /// Largest per-request output token cap (`--max-tokens`).
    public static let maxTokensMax: Int64 = 100_000_000
    /// Longest model or tool name in an allow-list.
    public static let listNameBytesMax = 256

    /// `budget + added`, or `invalid` (HTTP 400, a usage error on the command line) when the sum
    /// is past the largest amount of micro-USD an `Int64` holds.
    public static func budget(_ budget: MicroUSD, adding added: MicroUSD) throws(ManagementError) -> MicroUSD {
        do {
            return try budget.adding(added)
        } catch {
            throw .invalid(
                "budget \(budget) USD plus added budget \(added) USD exceeds the largest amount AEX can hold (\(MicroUSD(Int64.max)) USD)")
        }
    }

    /// Range checks shared by the CLI and the admin API.
    public func validate() throws(ManagementError) {
        if let rpm, !(1...Self.ratePerMinuteMax).contains(rpm) { throw .invalid("rpm must be between 1 and \(Self.ratePerMinuteMax)") }
        if let tpm = tpm ?? nil, !(1...Self.ratePerMinuteMax).contains(tpm) {
            throw .invalid("tpm must be between 1 and \(Self.ratePerMinuteMax)")
        }
        if let maxTokens = maxTokens ?? nil, maxTokens < 1 || maxTokens > Self.maxTokensMax {
            throw .invalid("max tokens must be between 1 and \(Self.maxTokensMax)")
        }
        if let budget, budget.value < 0 { throw .invalid("budget cannot be negative") }
        if let addBudget, addBudget.value < 0 { throw .invalid("added budget cannot be negative") }
        if let budget, let addBudget { _ = try Self.budget(budget, adding: addBudget) }
        if let ttl = ttlSeconds ?? nil, ttl < 1 { throw .invalid("ttl must be positive") }
        for list in [models ?? nil, tools ?? nil] {
            if let list, list.contains(where: { $0.isEmpty || $0.utf8.count > Self.listNameBytesMax }) {
                throw .invalid("model and tool names must be 1-\(Self.listNameBytesMax) bytes")
            }
        }
    }
}
