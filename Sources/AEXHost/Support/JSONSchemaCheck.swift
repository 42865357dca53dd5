/// The JSON Schema subset a tool plugin declares its call arguments in, and the check of arguments
/// against it. `problem(in:)` checks a schema once, when its plugin is loaded; `validate(_:against:)`
/// checks each call's arguments against a schema that passed it and names the first failure by its
/// path from `arguments`: `arguments.items[2].name: expected a string, got a number`.
///
/// Keywords: `type` (one name or a list of them: object, array, string, number, integer, boolean,
/// null; `integer` takes any whole number, `2.0` too), `properties`, `required`,
/// `additionalProperties` (a boolean or a schema), `items` (one schema), `enum`, `const`,
/// `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `minLength` and `maxLength`
/// (in Unicode scalars), `minItems`, `maxItems`; `description`, `title`, `default`, `examples` and
/// `$schema` are allowed and ignored. `problem(in:)` refuses any other keyword; `validate` ignores
/// keywords it does not know, and keywords whose own value is malformed.
///
/// Invariants
/// - Schemas and values nest at most `depthMax` levels, counted as `JSONReader` counts them (so
///   every document it reads is within the limit); deeper ones are refused before anything
///   recurses, and nothing recurses further than the value's or the schema's depth.
/// - Bounded work: each value is checked once, against the one subschema that applies to it; an
///   object's members are sorted once; `enum` costs at most the size of its options per value.
/// - Numbers are compared by exact value: two `Int64`s as integers, anything else as decimal text
///   (`ExactDecimal`), never through `Double`; `1`, `1.0` and `1e0` are one number.
/// - One message per failure, the same for the same input (keywords in a fixed order, members by
///   their keys' UTF-8 bytes), of bounded length: texts are cut at `shownScalarsMax` scalars and
///   `enum` lists at `shownOptionsMax` options; quotes and control characters are escaped.
enum JSONSchemaCheck {
    /// Deepest nesting of a schema or a value: a value at this many levels below the root is
    /// refused (the root is level 0), as `JSONReader.depthMax` refuses it.
    static let depthMax = 64
    /// Longest text of a value, a key or a number shown in a message, in Unicode scalars.
    static let shownScalarsMax = 64
    /// Most `enum` options listed in a message.
    static let shownOptionsMax = 10
    /// Longest exponent (in digits, leading zeros aside) of a number in a schema. With it every
    /// comparison of a value against a schema's number is exact (see `ExactDecimal`).
    static let schemaExponentDigitsMax = 9

    static let typeNames = ["object", "array", "string", "number", "integer", "boolean", "null"]
    static let checkedKeywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "minItems", "maxItems",
    ]
    static let ignoredKeywords: Set<String> = ["description", "title", "default", "examples", "$schema"]

    // MARK: Arguments

    /// Nil when `value` satisfies `schema`, else one message: the failing value's path from
    /// `arguments`, a colon, and what is wrong. `schema` is expected to have passed `problem(in:)`.
    static func validate(_ value: JSONValue, against schema: JSONValue) -> String? {
        if nestsTooDeeply(value) { return "arguments: nested deeper than \(depthMax) levels" }
        var path: [Step] = []
        return failure(of: value, against: schema, at: &path)
    }

    /// The first failure of `value` (at `path`) or of anything inside it. Recurses once per level
    /// of `value`, which `validate` has bounded.
    private static func failure(of value: JSONValue, against schema: JSONValue, at path: inout [Step]) -> String? {
        guard case .object(let keywords) = schema else { return nil }
        if let reason = ownFailure(of: value, keywords) { return "\(pathText("arguments", path)): \(reason)" }
        switch value {
        case .array(let items):
            guard let itemSchema = keywords["items"] else { return nil }
            for (index, item) in items.enumerated() {
                path.append(.item(index))
                let found = failure(of: item, against: itemSchema, at: &path)
                path.removeLast()
                if let found { return found }
            }
            return nil
        case .object(let members):
            var properties: [String: JSONValue] = [:]
            if case .object(let declared)? = keywords["properties"] { properties = declared }
            let additional = keywords["additionalProperties"]
            guard !properties.isEmpty || additional != nil else { return nil }
            for name in members.keys.sorted(by: JSONValue.utf8Precedes) {
                let memberSchema: JSONValue
                if let declared = properties[name] {
                    memberSchema = declared
                } else if case .bool(false)? = additional {
                    return "\(pathText("arguments", path)): unexpected property \(quoted(name))"
                } else if let additional, case .object = additional {
                    memberSchema = additional
                } else {
                    continue
                }
                path.append(.member(name))
                let found = failure(of: members[name]!, against: memberSchema, at: &path)
                path.removeLast()
                if let found { return found }
            }
            return nil
        default:
            return nil
        }
    }

    /// What is wrong with `value` itself (not with what it holds), keywords in a fixed order:
    /// `type`, `const`, `enum`, the bounds, lengths, item counts, `required`.
    private static func ownFailure(of value: JSONValue, _ keywords: [String: JSONValue]) -> String? {
        if let type = keywords["type"], let names = allowedTypes(type),
           !names.contains(where: { hasType(value, $0) }) {
            return "expected \(alternatives(names.map(typeArticle))), got \(typeFound(value, expected: names))"
        }
        if let constant = keywords["const"], !sameValue(value, constant) {
            return "\(shown(value)) is not the constant \(shownJSON(constant))"
        }
        if case .array(let options)? = keywords["enum"], !options.contains(where: { sameValue(value, $0) }) {
            return "\(shown(value)) is not one of \(optionsText(options))"
        }
        switch value {
        case .int, .number:
            for bound in Bound.allCases {
                guard let limit = keywords[bound.keyword], decimal(limit) != nil else { continue }
                guard let order = numberOrder(value, limit) else { return "\(shown(value)) is not a well-formed number" }
                if !bound.admits(order) { return "\(shown(value)) \(bound.failurePhrase) \(shownJSON(limit))" }
            }
        case .string(let text):
            let least = count(keywords["minLength"]), most = count(keywords["maxLength"])
            guard least != nil || most != nil else { return nil }
            let length = Int64(text.unicodeScalars.count)
            if let least, length < least {
                return "\(quoted(text)) has \(counted(length, "character")), fewer than the minimum \(least)"
            }
            if let most, length > most {
                return "\(quoted(text)) has \(counted(length, "character")), more than the maximum \(most)"
            }
        case .array(let items):
            let length = Int64(items.count)
            if let least = count(keywords["minItems"]), length < least {
                return "the array has \(counted(length, "item")), fewer than the minimum \(least)"
            }
            if let most = count(keywords["maxItems"]), length > most {
                return "the array has \(counted(length, "item")), more than the maximum \(most)"
            }
        case .object(let members):
            guard case .array(let names)? = keywords["required"] else { return nil }
            for case .string(let name) in names where members[name] == nil {
                return "missing required property \(quoted(name))"
            }
        case .null, .bool:
            break
        }
        return nil
    }

    /// The names a `type` keyword allows; nil when it is neither a name nor a list of names.
    private static func allowedTypes(_ type: JSONValue) -> [String]? {
        switch type {
        case .string(let name): return [name]
        case .array(let items):
            let names = items.compactMap { item -> String? in
                if case .string(let name) = item { return name }
                return nil
            }
            return names.isEmpty ? nil : names
        default: return nil
        }
    }

    /// Whether `value` is of the type `name`: `number` takes every number, `integer` whole ones.
    static func hasType(_ value: JSONValue, _ name: String) -> Bool {
        switch (name, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null),
             ("number", .int), ("number", .number), ("integer", .int):
            return true
        case ("integer", .number(let text)):
            return ExactDecimal(text: text)?.isWhole ?? false
        default:
            return false
        }
    }

    /// What a value of the wrong type is: its kind, or the value itself when it is a number that
    /// is not whole and an integer was expected.
    private static func typeFound(_ value: JSONValue, expected names: [String]) -> String {
        if case .number = value, names.contains("integer") { return shown(value) }
        return kind(of: value)
    }

    /// Whether `a` and `b` are the same JSON value: numbers by exact value, strings by their
    /// Unicode scalars, arrays item by item, objects member by member. Recurses no deeper than
    /// `a` nests.
    static func sameValue(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int, .int), (.int, .number), (.number, .int), (.number, .number): return numberOrder(a, b) == 0
        case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { sameValue($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { name, member in y[name].map { sameValue(member, $0) } ?? false }
        default: return false
        }
    }

    /// A `minLength`-like keyword's count; nil when it is not a non-negative integer.
    private static func count(_ keyword: JSONValue?) -> Int64? {
        if case .int(let count)? = keyword, count >= 0 { return count }
        return nil
    }

    /// The four numeric bounds, in the order they are checked.
    enum Bound: CaseIterable {
        case minimum, exclusiveMinimum, maximum, exclusiveMaximum

        var keyword: String {
            switch self {
            case .minimum: "minimum"
            case .exclusiveMinimum: "exclusiveMinimum"
            case .maximum: "maximum"
            case .exclusiveMaximum: "exclusiveMaximum"
            }
        }

        /// Whether a value that compares to the bound as `order` (-1 below, 0 equal, 1 above) passes.
        func admits(_ order: Int) -> Bool {
            switch self {
            case .minimum: order >= 0
            case .exclusiveMinimum: order > 0
            case .maximum: order <= 0
            case .exclusiveMaximum: order < 0
            }
        }

        var failurePhrase: String {
            switch self {
            case .minimum: "is below the minimum"
            case .exclusiveMinimum: "is not above the exclusive minimum"
            case .maximum: "is above the maximum"
            case .exclusiveMaximum: "is not below the exclusive maximum"
            }
        }
    }

    // MARK: Schemas

    /// Nil when `schema` uses only the supported keywords, each with a well-formed value; else a
    /// message naming the first problem by its path from `schema`.
    static func problem(in schema: JSONValue) -> String? {
        if nestsTooDeeply(schema) { return "schema: nested deeper than \(depthMax) levels" }
        var path: [Step] = []
        return schemaProblem(schema, at: &path)
    }

    /// A problem found at `steps` below the schema being checked.
    private typealias Finding = (steps: [Step], reason: String)

    /// The first problem of `schema` (at `path`) or of a subschema inside it. Recurses once per
    /// level of the schema, which `problem(in:)` has bounded.
    private static func schemaProblem(_ schema: JSONValue, at path: inout [Step]) -> String? {
        guard case .object(let keywords) = schema else {
            return "\(pathText("schema", path)): expected a schema object, got \(kind(of: schema))"
        }
        if let finding = keywordProblem(keywords) {
            return "\(pathText("schema", path + finding.steps)): \(finding.reason)"
        }
        var subschemas: [(steps: [Step], schema: JSONValue)] = []
        if case .object(let properties)? = keywords["properties"] {
            for name in properties.keys.sorted(by: JSONValue.utf8Precedes) {
                subschemas.append(([.member("properties"), .member(name)], properties[name]!))
            }
        }
        if let additional = keywords["additionalProperties"], case .object = additional {
            subschemas.append(([.member("additionalProperties")], additional))
        }
        if let items = keywords["items"] { subschemas.append(([.member("items")], items)) }
        for subschema in subschemas {
            path.append(contentsOf: subschema.steps)
            let found = schemaProblem(subschema.schema, at: &path)
            path.removeLast(subschema.steps.count)
            if let found { return found }
        }
        return nil
    }

    /// The first problem among one schema object's own keywords (subschemas are checked apart).
    private static func keywordProblem(_ keywords: [String: JSONValue]) -> Finding? {
        for name in keywords.keys.sorted(by: JSONValue.utf8Precedes)
        where !checkedKeywords.contains(name) && !ignoredKeywords.contains(name) {
            return ([], "unsupported keyword \(quoted(name))")
        }
        if let type = keywords["type"], let finding = typeProblem(type) {
            return ([.member("type")] + finding.steps, finding.reason)
        }
        if let options = keywords["enum"] {
            guard case .array(let items) = options, !items.isEmpty else {
                let found = options == .array([]) ? "an empty array" : kind(of: options)
                return ([.member("enum")], "expected a non-empty array of values, got \(found)")
            }
            for (index, item) in items.enumerated() {
                if let reason = numbersProblem(item) { return ([.member("enum"), .item(index)], reason) }
            }
        }
        if let constant = keywords["const"], let reason = numbersProblem(constant) {
            return ([.member("const")], reason)
        }
        for bound in Bound.allCases {
            guard let limit = keywords[bound.keyword] else { continue }
            switch limit {
            case .int, .number: break
            default: return ([.member(bound.keyword)], "expected a number, got \(kind(of: limit))")
            }
            if let reason = numbersProblem(limit) { return ([.member(bound.keyword)], reason) }
        }
        if let least = keywords["minimum"], let most = keywords["maximum"], let order = numberOrder(least, most), order > 0 {
            return ([], "minimum \(shownJSON(least)) is above maximum \(shownJSON(most))")
        }
        for name in ["minLength", "maxLength", "minItems", "maxItems"] {
            if let keyword = keywords[name], count(keyword) == nil {
                return ([.member(name)], "expected a non-negative integer, got \(shown(keyword))")
            }
        }
        for (least, most) in [("minLength", "maxLength"), ("minItems", "maxItems")] {
            if let low = count(keywords[least]), let high = count(keywords[most]), low > high {
                return ([], "\(least) \(low) is above \(most) \(high)")
            }
        }
        if let required = keywords["required"], let finding = requiredProblem(required, keywords) {
            return ([.member("required")] + finding.steps, finding.reason)
        }
        if let properties = keywords["properties"] {
            guard case .object = properties else {
                return ([.member("properties")], "expected an object of schemas, got \(kind(of: properties))")
            }
        }
        if let additional = keywords["additionalProperties"] {
            switch additional {
            case .bool, .object: break
            default:
                return ([.member("additionalProperties")], "expected a boolean or a schema object, got \(kind(of: additional))")
            }
        }
        if case .array? = keywords["items"] {
            return ([.member("items")], "expected a schema object, got an array (a list of item schemas is not supported)")
        }
        return nil
    }

    /// What is wrong with a `type` keyword: not a known name, nor a non-empty list of distinct ones.
    private static func typeProblem(_ type: JSONValue) -> Finding? {
        func nameProblem(_ name: String) -> String? {
            typeNames.contains(name) ? nil : "unknown type \(quoted(name)) (known: \(typeNames.joined(separator: ", ")))"
        }
        switch type {
        case .string(let name):
            return nameProblem(name).map { ([], $0) }
        case .array(let items):
            guard !items.isEmpty else { return ([], "expected at least one type name") }
            var seen: Set<String> = []
            for (index, item) in items.enumerated() {
                guard case .string(let name) = item else {
                    return ([.item(index)], "expected a type name, got \(kind(of: item))")
                }
                if let reason = nameProblem(name) { return ([.item(index)], reason) }
                if !seen.insert(name).inserted { return ([.item(index)], "\(quoted(name)) is listed twice") }
            }
            return nil
        default:
            return ([], "expected a type name or an array of type names, got \(kind(of: type))")
        }
    }

    /// What is wrong with a `required` keyword: not a list of distinct names, or a name that
    /// `additionalProperties: false` forbids (no value could then pass).
    private static func requiredProblem(_ required: JSONValue, _ keywords: [String: JSONValue]) -> Finding? {
        guard case .array(let items) = required else {
            return ([], "expected an array of property names, got \(kind(of: required))")
        }
        var declared: [String: JSONValue] = [:]
        if case .object(let properties)? = keywords["properties"] { declared = properties }
        let closed = keywords["additionalProperties"] == .bool(false)
        var seen: Set<String> = []
        for (index, item) in items.enumerated() {
            guard case .string(let name) = item else {
                return ([.item(index)], "expected a property name, got \(kind(of: item))")
            }
            if !seen.insert(name).inserted { return ([.item(index)], "\(quoted(name)) is listed twice") }
            if closed && declared[name] == nil {
                return ([.item(index)], "\(quoted(name)) is not in properties and additionalProperties is false, so no value can have it")
            }
        }
        return nil
    }

    /// What is wrong with the first number a schema's value holds (looking inside arrays and
    /// objects, without recursion): a text that is not a JSON number, or an exponent longer than
    /// `schemaExponentDigitsMax` digits.
    private static func numbersProblem(_ value: JSONValue) -> String? {
        var pending = [value]
        while let next = pending.popLast() {
            switch next {
            case .number(let text):
                guard let number = ExactDecimal(text: text) else { return "\(quoted(text)) is not a JSON number" }
                if number.exponentDigits > schemaExponentDigitsMax {
                    return "\(shownJSON(next)) has an exponent of more than \(schemaExponentDigitsMax) digits"
                }
            case .array(let items): pending.append(contentsOf: items)
            case .object(let members): pending.append(contentsOf: members.values)
            case .null, .bool, .int, .string: break
            }
        }
        return nil
    }

    // MARK: Depth

    /// Whether a value inside `root` lies `depthMax` or more levels below it (`root` is level 0):
    /// what `JSONReader` refuses as nested too deeply. Walks without recursion and no deeper than
    /// the limit.
    static func nestsTooDeeply(_ root: JSONValue) -> Bool {
        var pending: [(value: JSONValue, level: Int)] = [(root, 0)]
        while let next = pending.popLast() {
            switch next.value {
            case .array(let items) where !items.isEmpty:
                if next.level + 1 >= depthMax { return true }
                for item in items { pending.append((item, next.level + 1)) }
            case .object(let members) where !members.isEmpty:
                if next.level + 1 >= depthMax { return true }
                for member in members.values { pending.append((member, next.level + 1)) }
            default:
                continue
            }
        }
        return false
    }

    // MARK: Numbers

    /// The order of two JSON numbers by exact value: -1, 0 or 1; nil when either is not a number
    /// or its text is not a JSON number. Two `Int64`s are compared as they are.
    static func numberOrder(_ a: JSONValue, _ b: JSONValue) -> Int? {
        if case .int(let x) = a, case .int(let y) = b { return x < y ? -1 : (x == y ? 0 : 1) }
        guard let x = decimal(a), let y = decimal(b) else { return nil }
        return x < y ? -1 : (x == y ? 0 : 1)
    }

    /// A number's exact value; nil for anything else or a text that is not a JSON number.
    private static func decimal(_ value: JSONValue) -> ExactDecimal? {
        switch value {
        case .int(let number): ExactDecimal(text: String(number))
        case .number(let text): ExactDecimal(text: text)
        default: nil
        }
    }

    /// A JSON number's exact value: its sign, its significant digits (ASCII, without leading or
    /// trailing zeros; none for zero, which is never negative) and the power of ten of the last
    /// one, so the value is `digits × 10^lastDigitPower`.
    ///
    /// An exponent longer than `exponentDigitsMax` digits is taken as ±10^18: such a number is
    /// then still above (or below) every number whose exponent has at most
    /// `schemaExponentDigitsMax` digits, as it truly is, so comparisons with a checked schema's
    /// numbers stay exact; and no sum of powers can overflow `Int`.
    struct ExactDecimal: Comparable {
        static let exponentDigitsMax = 18

        let negative: Bool
        let digits: [UInt8]
        let lastDigitPower: Int
        /// How many digits the exponent was written with, leading zeros aside.
        let exponentDigits: Int

        var isZero: Bool { digits.isEmpty }
        var isWhole: Bool { digits.isEmpty || lastDigitPower >= 0 }
        /// The power of ten just above the first digit: `1.5` → 1, `0.05` → -1, `100` → 3.
        var leadPower: Int { lastDigitPower + digits.count }

        /// Nil unless `text` is a JSON number (RFC 8259 grammar, nothing around it).
        init?(text: String) {
            let bytes = Array(text.utf8)
            let zero = UInt8(ascii: "0")
            var at = 0
            func isDigit(_ index: Int) -> Bool { index < bytes.count && bytes[index] >= zero && bytes[index] <= UInt8(ascii: "9") }
            func isByte(_ byte: Character) -> Bool { at < bytes.count && bytes[at] == byte.asciiValue! }

            let negative = isByte("-")
            if negative { at += 1 }
            guard isDigit(at), !(bytes[at] == zero && isDigit(at + 1)) else { return nil }
            var mantissa: [UInt8] = []
            while isDigit(at) {
                mantissa.append(bytes[at])
                at += 1
            }
            var fractionDigits = 0
            if isByte(".") {
                at += 1
                guard isDigit(at) else { return nil }
                while isDigit(at) {
                    mantissa.append(bytes[at])
                    fractionDigits += 1
                    at += 1
                }
            }
            var exponent = 0
            var exponentDigits = 0
            if isByte("e") || isByte("E") {
                at += 1
                let exponentNegative = isByte("-")
                if isByte("-") || isByte("+") { at += 1 }
                guard isDigit(at) else { return nil }
                while isByte("0") { at += 1 }
                while isDigit(at) {
                    exponentDigits += 1
                    if exponentDigits <= Self.exponentDigitsMax { exponent = exponent * 10 + Int(bytes[at] - zero) }
                    at += 1
                }
                if exponentDigits > Self.exponentDigitsMax { exponent = 1_000_000_000_000_000_000 }
                if exponentNegative { exponent = -exponent }
            }
            guard at == bytes.count else { return nil }

            self.exponentDigits = exponentDigits
            guard let first = mantissa.firstIndex(where: { $0 != zero }), let last = mantissa.lastIndex(where: { $0 != zero }) else {
                self.negative = false
                self.digits = []
                self.lastDigitPower = 0
                return
            }
            self.negative = negative
            self.digits = Array(mantissa[first...last])
            self.lastDigitPower = exponent - fractionDigits + (mantissa.count - 1 - last)
        }

        static func < (a: ExactDecimal, b: ExactDecimal) -> Bool { order(a, b) < 0 }
        static func == (a: ExactDecimal, b: ExactDecimal) -> Bool { order(a, b) == 0 }

        /// -1, 0 or 1 as `a` is below, equal to or above `b`.
        static func order(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
            let signA = a.isZero ? 0 : (a.negative ? -1 : 1)
            let signB = b.isZero ? 0 : (b.negative ? -1 : 1)
            if signA != signB { return signA < signB ? -1 : 1 }
            if signA == 0 { return 0 }
            return signA * magnitudeOrder(a, b)
        }

        /// -1, 0 or 1 as `|a|` is below, equal to or above `|b|` (both not zero).
        private static func magnitudeOrder(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
            if a.leadPower != b.leadPower { return a.leadPower < b.leadPower ? -1 : 1 }
            for (x, y) in zip(a.digits, b.digits) where x != y { return x < y ? -1 : 1 }
            if a.digits.count != b.digits.count { return a.digits.count < b.digits.count ? -1 : 1 }
            return 0
        }
    }

    // MARK: Messages

    /// One step down from a value: an object's member or an array's item.
    enum Step: Equatable {
        case member(String)
        case item(Int)
    }

    /// `root`, then `.name` for each member whose name is a plain identifier (letters, digits,
    /// `_`, `$`, `-`, not starting with a digit or `-`), `["name"]` for other names, `[index]`
    /// for items: `arguments.items[2]["first name"]`.
    static func pathText(_ root: String, _ steps: [Step]) -> String {
        var text = root
        for step in steps {
            switch step {
            case .item(let index): text += "[\(index)]"
            case .member(let name) where isPlainName(name): text += "." + name
            case .member(let name): text += "[\(shownJSON(.string(name)))]"
            }
        }
        return text
    }

    private static func isPlainName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= shownScalarsMax,
              !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first), first != UInt8(ascii: "-") else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "$"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    /// A value as a message shows it: a string in single quotes, anything else as JSON.
    static func shown(_ value: JSONValue) -> String {
        if case .string(let text) = value { return quoted(text) }
        return shownJSON(value)
    }

    /// `text` in single quotes, cut at `shownScalarsMax` scalars (then `…`), with `'`, `\` and
    /// control characters escaped, so a message stays one line.
    static func quoted(_ text: String) -> String {
        var out = "'"
        var scalarCount = 0
        for scalar in text.unicodeScalars {
            if scalarCount == shownScalarsMax {
                out += "…"
                break
            }
            scalarCount += 1
            switch scalar {
            case "'": out += "\\'"
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "'"
    }

    /// `value` as compact JSON (object members by their keys' UTF-8 bytes), cut at about
    /// `shownScalarsMax` scalars (then `…`). Recurses no deeper than the text it writes.
    static func shownJSON(_ value: JSONValue) -> String {
        var out = ""
        var budget = shownScalarsMax
        writeShown(value, into: &out, budget: &budget)
        return budget < 0 ? out + "…" : out
    }

    /// Appends `value`'s JSON to `out`, spending `budget` scalars; a negative budget means the
    /// text was cut.
    private static func writeShown(_ value: JSONValue, into out: inout String, budget: inout Int) {
        func emit(_ text: String) {
            guard budget >= 0 else { return }
            let scalars = text.unicodeScalars
            if scalars.count <= budget {
                out += text
                budget -= scalars.count
            } else {
                out.unicodeScalars.append(contentsOf: scalars.prefix(budget))
                budget = -1
            }
        }
        guard budget >= 0 else { return }
        switch value {
        case .null: emit("null")
        case .bool(let flag): emit(flag ? "true" : "false")
        case .int(let number): emit(String(number))
        case .number(let text): emit(String(String.UnicodeScalarView(text.unicodeScalars.prefix(budget + 1))))
        case .string(let text):
            var json: [UInt8] = []
            JSONValue.writeString(String(String.UnicodeScalarView(text.unicodeScalars.prefix(budget + 1))), into: &json)
            emit(String(decoding: json, as: UTF8.self))
        case .array(let items):
            emit("[")
            for (index, item) in items.enumerated() {
                guard budget >= 0 else { return }
                if index > 0 { emit(",") }
                writeShown(item, into: &out, budget: &budget)
            }
            emit("]")
        case .object(let members):
            emit("{")
            for (index, name) in members.keys.sorted(by: JSONValue.utf8Precedes).enumerated() {
                guard budget >= 0 else { return }
                if index > 0 { emit(",") }
                writeShown(.string(name), into: &out, budget: &budget)
                emit(":")
                writeShown(members[name]!, into: &out, budget: &budget)
            }
            emit("}")
        }
    }

    /// An `enum`'s options as a message lists them: JSON, comma-separated, at most
    /// `shownOptionsMax` of them.
    private static func optionsText(_ options: [JSONValue]) -> String {
        let listed = options.prefix(shownOptionsMax).map(shownJSON).joined(separator: ", ")
        return options.count > shownOptionsMax ? listed + ", … (\(options.count) in all)" : listed
    }

    /// What kind of JSON value `value` is, with its article: `a string`, `an object`, `null`.
    static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// A type name with its article: `an integer`, `a string`, `null`.
    private static func typeArticle(_ name: String) -> String {
        switch name {
        case "null": "null"
        case "object", "array", "integer": "an \(name)"
        default: "a \(name)"
        }
    }

    /// `a`, `a or b`, `a, b or c`.
    private static func alternatives(_ names: [String]) -> String {
        guard names.count > 1 else { return names.first ?? "" }
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    /// `1 item`, `2 items`.
    private static func counted(_ count: Int64, _ noun: String) -> String {
        count == 1 ? "1 \(noun)" : "\(count) \(noun)s"
    }
}
