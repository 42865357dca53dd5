/// Header fields of one message, in the order received, with names spelled as received.
///
/// Lookups match names case-insensitively (ASCII), as HTTP requires; values are kept verbatim
/// (the parser has already trimmed surrounding whitespace). Equality compares fields exactly,
/// in order.
public struct HTTPHeaders: Sendable, Sequence, Equatable {
    public typealias Element = (name: String, value: String)

    private var fields: [Field] = []

    public init() {}

    /// Empty headers with room for `capacity` fields before any reallocation.
    init(capacity: Int) {
        fields.reserveCapacity(capacity)
    }

    /// Number of fields, repeated names counted each time.
    public var count: Int { fields.count }

    /// The first value of the field `name` (case-insensitive), or nil when absent.
    public subscript(name: String) -> String? {
        fields.first { Self.namesMatch($0.name, name) }?.value
    }

    /// Every value of the field `name` (case-insensitive), in the order received.
    public func values(for name: String) -> [String] {
        fields.compactMap { Self.namesMatch($0.name, name) ? $0.value : nil }
    }

    /// Appends a field; existing fields with the same name are kept.
    public mutating func add(name: consuming String, value: consuming String) {
        fields.append(Field(name: name, value: value))
    }

    public func makeIterator() -> Iterator {
        Iterator(fields: fields.makeIterator())
    }

    public struct Iterator: IteratorProtocol, Sendable {
        fileprivate var fields: IndexingIterator<[Field]>

        public mutating func next() -> Element? {
            fields.next().map { (name: $0.name, value: $0.value) }
        }
    }

    /// A struct rather than the `Element` tuple: the array of it copies and frees faster.
    fileprivate struct Field: Sendable, Equatable {
        var name: String
        var value: String
    }

    /// ASCII case-insensitive comparison, without allocating.
    private static func namesMatch(_ lhs: String, _ rhs: String) -> Bool {
        let lhs = lhs.utf8
        let rhs = rhs.utf8
        guard lhs.count == rhs.count else { return false }
        return lhs.elementsEqual(rhs) { asciiLowercased($0) == asciiLowercased($1) }
    }

    private static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        byte &- 0x41 < 26 ? byte | 0x20 : byte
    }
}
