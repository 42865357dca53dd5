/// The writer's `PRAGMA synchronous` setting. `full` (the default) loses no acknowledged commit on
/// power loss; `normal` is faster and can lose the last commits on power loss (never on a crash).
public enum Durability: String, Sendable, CaseIterable {
    case full
    case normal

    public var pragma: String { "PRAGMA synchronous = \(rawValue.uppercased())" }
}
