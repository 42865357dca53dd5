/// An exact decimal calculator: `Calculator.evaluate("0.1 + 0.2")` is `.success("0.3")`.
///
/// Grammar, loosest binding first (all binary operators left-associative except `^`):
///
///     expression := term (('+' | '-') term)*
///     term       := unary (('*' | '/') unary)*
///     unary      := ('+' | '-')* power                    -- so -2^2 is -(2^2)
///     power      := primary ('^' unary)?                  -- right-associative; `**` is `^`
///     primary    := number | '(' expression ')'
///     number     := digits ['.' [digits]] | '.' digits, then optionally [eE] [+-] digits
///
/// Numbers are exact: a sign, an arbitrary-precision magnitude and a base-10 scale. `+ - *` and
/// integer powers are always exact. A quotient is exact when it terminates within the result limit
/// below; otherwise it is rounded half-to-even to `divisionFractionDigits` digits after the point.
/// A negative exponent means 1/x^n, so it follows the same rule.
///
/// Every input is bounded (see the limits), so no expression can crash it or keep it busy for
/// long. Results are plain decimal text: no exponent, no trailing zeros, never `-0`.
public enum Calculator {
    /// Longest expression accepted, in characters (Unicode scalars).
    static let maximumExpressionCharacters = 1_000
    /// Deepest parenthesis nesting accepted, in levels.
    static let maximumNestingLevels = 64
    /// Largest |n| accepted in `x ^ n`.
    static let maximumPowerExponentMagnitude = 10_000
    /// Largest |n| accepted in a literal's `e` part (`1e1000`).
    static let maximumLiteralExponentMagnitude = 1_000
    /// Largest number of digits of any literal, intermediate or final result: the digits its plain
    /// decimal text shows, so `10^1999` (2,000 digits) and `1e-1000 * 1e-1000` (2,000 digits after
    /// the point) are the largest powers of ten either side of the point.
    static let maximumResultDigits = 2_000
    /// Digits after the point that a non-terminating quotient is rounded to.
    static let divisionFractionDigits = 32

    public static func evaluate(_ expression: String) -> Result<String, CalculatorError> {
        var scalars: [Unicode.Scalar] = []
        for scalar in expression.unicodeScalars {
            if scalars.count == maximumExpressionCharacters { return .failure(CalculatorError("expression too long")) }
            scalars.append(scalar)
        }
        do {
            let tokens = try Lexer.tokens(of: scalars)
            let program = try Parser.program(of: tokens)
            return .success(try run(program).text)
        } catch {
            return .failure(error)
        }
    }

    /// Runs the postfix program the parser emits, on a stack: no recursion, whatever the shape.
    private static func run(_ program: [Instruction]) throws(CalculatorError) -> Number {
        var stack: [Number] = []
        for instruction in program {
            if case .push(let number) = instruction {
                stack.append(number)
                continue
            }
            if case .negate = instruction {
                guard let operand = stack.popLast() else { throw CalculatorError("internal error: empty stack") }
                stack.append(operand.negated)
                continue
            }
            guard let right = stack.popLast(), let left = stack.popLast() else { throw CalculatorError("internal error: empty stack") }
            switch instruction {
            case .add: stack.append(try Number.sum(left, right))
            case .subtract: stack.append(try Number.sum(left, right.negated))
            case .multiply: stack.append(try Number.product(left, right))
            case .divide: stack.append(try Number.quotient(left, right))
            case .power: stack.append(try Number.power(left, right))
            case .push, .negate: break
            }
        }
        guard stack.count == 1, let result = stack.first else { throw CalculatorError("internal error: unbalanced stack") }
        return result
    }
}

/// Why an expression has no value; `message` is short and meant for the user.
public struct CalculatorError: Error, Equatable {
    public let message: String

    init(message: String) { self.message = message }
    fileprivate init(_ message: String) { self.message = message }
}

// MARK: - Lexer

extension Calculator {
    fileprivate enum TokenKind: Equatable {
        case number(Number)
        case plus, minus, star, slash, caret, open, close
    }

    fileprivate struct Token {
        let kind: TokenKind
        /// 1-based position of the token's first character.
        let position: Int
        let text: String

        var described: String {
            if case .number = kind { return "number at position \(position)" }
            return "'\(text)' at position \(position)"
        }
    }

    fileprivate enum Lexer {
        static func tokens(of scalars: [Unicode.Scalar]) throws(CalculatorError) -> [Token] {
            var tokens: [Token] = []
            var index = 0
            while index < scalars.count {
                let scalar = scalars[index]
                let position = index + 1
                switch scalar {
                case " ", "\t", "\n", "\r":
                    index += 1
                case "0"..."9", ".":
                    let (number, end) = try self.number(in: scalars, from: index)
                    tokens.append(Token(kind: .number(number), position: position, text: ""))
                    index = end
                case "*" where index + 1 < scalars.count && scalars[index + 1] == "*":
                    tokens.append(Token(kind: .caret, position: position, text: "**"))
                    index += 2
                default:
                    let kind: TokenKind
                    switch scalar {
                    case "+": kind = .plus
                    case "-": kind = .minus
                    case "*": kind = .star
                    case "/": kind = .slash
                    case "^": kind = .caret
                    case "(": kind = .open
                    case ")": kind = .close
                    default: throw CalculatorError("unexpected character '\(scalar.escaped(asASCII: true))' at position \(position)")
                    }
                    tokens.append(Token(kind: kind, position: position, text: String(scalar)))
                    index += 1
                }
            }
            return tokens
        }

        /// Reads the number starting at `start`; returns it and the index just past it.
        private static func number(in scalars: [Unicode.Scalar], from start: Int) throws(CalculatorError) -> (Number, Int) {
            let malformed = CalculatorError("malformed number at position \(start + 1)")
            var index = start
            var digits: [UInt8] = []
            var fractionDigits = 0
            func isDigit(_ at: Int) -> Bool { at < scalars.count && ("0"..."9").contains(scalars[at]) }
            while isDigit(index) {
                digits.append(UInt8(scalars[index].value - 48))
                index += 1
            }
            if index < scalars.count && scalars[index] == "." {
                index += 1
                while isDigit(index) {
                    digits.append(UInt8(scalars[index].value - 48))
                    fractionDigits += 1
                    index += 1
                }
            }
            if digits.isEmpty { throw malformed }
            var exponent = 0
            if index < scalars.count && (scalars[index] == "e" || scalars[index] == "E") {
                index += 1
                var negative = false
                if index < scalars.count && (scalars[index] == "+" || scalars[index] == "-") {
                    negative = scalars[index] == "-"
                    index += 1
                }
                guard isDigit(index) else { throw malformed }
                while isDigit(index) {
                    // Saturates just past the limit: the digits are read whatever their count.
                    exponent = min(exponent * 10 + Int(scalars[index].value - 48), maximumLiteralExponentMagnitude + 1)
                    index += 1
                }
                if exponent > maximumLiteralExponentMagnitude {
                    throw CalculatorError("number exponent too large at position \(start + 1) (at most \(maximumLiteralExponentMagnitude))")
                }
                if negative { exponent = -exponent }
            }
            if index < scalars.count && scalars[index] == "." { throw malformed }
            guard let number = Number(digits: digits, scale: fractionDigits - exponent) else {
                throw CalculatorError("number too large at position \(start + 1)")
            }
            return (number, index)
        }
    }
}

// MARK: - Parser

extension Calculator {
    fileprivate enum Instruction {
        case push(Number)
        case negate, add, subtract, multiply, divide, power
    }

    /// Recursive descent that emits a postfix program. Only parentheses recurse (bounded by
    /// `maximumNestingLevels`); runs of signs and chains of `^` are loops.
    fileprivate struct Parser {
        private let tokens: [Token]
        private var index = 0
        private var depth = 0
        private var program: [Instruction] = []

        private init(tokens: [Token]) { self.tokens = tokens }

        static func program(of tokens: [Token]) throws(CalculatorError) -> [Instruction] {
            if tokens.isEmpty { throw CalculatorError("empty expression") }
            var parser = Parser(tokens: tokens)
            try parser.expression()
            if let extra = parser.peek { throw CalculatorError("unexpected \(extra.described)") }
            return parser.program
        }

        private var peek: Token? { index < tokens.count ? tokens[index] : nil }

        private mutating func take(_ kinds: TokenKind...) -> TokenKind? {
            guard let token = peek, kinds.contains(token.kind) else { return nil }
            index += 1
            return token.kind
        }

        private mutating func expression() throws(CalculatorError) {
            try term()
            while let kind = take(.plus, .minus) {
                try term()
                program.append(kind == .plus ? .add : .subtract)
            }
        }

        private mutating func term() throws(CalculatorError) {
            try unary()
            while let kind = take(.star, .slash) {
                try unary()
                program.append(kind == .star ? .multiply : .divide)
            }
        }

        private mutating func unary() throws(CalculatorError) {
            let negate = signs()
            try power()
            if negate { program.append(.negate) }
        }

        /// Consumes a run of unary signs; true when it negates.
        private mutating func signs() -> Bool {
            var negate = false
            while let kind = take(.plus, .minus) {
                if kind == .minus { negate.toggle() }
            }
            return negate
        }

        /// `a ^ -b ^ c` emits `a b c pow neg pow`: each exponent's own signs apply after its powers.
        private mutating func power() throws(CalculatorError) {
            try primary()
            var exponentSigns: [Bool] = []
            while take(.caret) != nil {
                exponentSigns.append(signs())
                try primary()
            }
            for negate in exponentSigns.reversed() {
                if negate { program.append(.negate) }
                program.append(.power)
            }
        }

        private mutating func primary() throws(CalculatorError) {
            guard let token = peek else { throw CalculatorError("unexpected end of expression") }
            switch token.kind {
            case .number(let number):
                index += 1
                program.append(.push(number))
            case .open:
                index += 1
                depth += 1
                if depth > maximumNestingLevels {
                    throw CalculatorError("expression nested too deeply (more than \(maximumNestingLevels) levels)")
                }
                try expression()
                guard take(.close) != nil else {
                    if let other = peek { throw CalculatorError("unexpected \(other.described)") }
                    throw CalculatorError("missing ')' for '(' at position \(token.position)")
                }
                depth -= 1
            default:
                throw CalculatorError("unexpected \(token.described)")
            }
        }
    }
}

// MARK: - Exact decimal numbers

extension Calculator {
    /// ±coefficient × 10^-scale, normalised: scale ≥ 0, no trailing decimal zero in the coefficient
    /// while scale > 0, and zero is +0 with scale 0. So equal values are equal structs.
    struct Number: Equatable {
        let negative: Bool
        let coefficient: BigUInt
        let scale: Int

        static let zero = Number(negative: false, coefficient: BigUInt(), scale: 0)
        static let one = Number(negative: false, coefficient: BigUInt(1), scale: 0)

        /// 10^maximumResultDigits: every coefficient stays below it.
        private static let coefficientBound = BigUInt.powerOfTen(maximumResultDigits)

        private init(negative: Bool, coefficient: BigUInt, scale: Int) {
            self.negative = negative
            self.coefficient = coefficient
            self.scale = scale
        }

        /// The decimal digits (most significant first, values 0...9) × 10^-scale, any scale;
        /// nil when it is over the digit limit.
        init?(digits: [UInt8], scale: Int) {
            var coefficient = BigUInt()
            var start = 0
            while start < digits.count {
                let end = min(start + 9, digits.count)
                var chunk: UInt32 = 0
                var multiplier: UInt32 = 1
                for digit in digits[start..<end] {
                    chunk = chunk * 10 + UInt32(digit)
                    multiplier *= 10
                }
                coefficient = coefficient.multiplied(by: multiplier, adding: chunk)
                start = end
            }
            guard let number = try? Number.make(negative: false, coefficient: coefficient, scale: scale) else { return nil }
            self = number
        }

        /// Normalises, then refuses a value over the digit limit.
        /// `scale` may be negative (the value is then an integer) down to -2 × the limit or so.
        private static func make(negative: Bool, coefficient: BigUInt, scale: Int) throws(CalculatorError) -> Number {
            var coefficient = coefficient
            var scale = scale
            if scale < 0 {
                // A bound on the digits before multiplying: the result has more than -scale digits.
                if coefficient.isZero { return .zero }
                if -scale >= maximumResultDigits { throw CalculatorError("result too large") }
                coefficient = coefficient * BigUInt.powerOfTen(-scale)
                scale = 0
            }
            if coefficient.isZero { return .zero }
            while scale > 0 && coefficient.isEven {
                let (quotient, remainder) = coefficient.quotientAndRemainder(dividingBy: 1_000_000_000)
                if remainder == 0 && scale >= 9 {
                    coefficient = quotient
                    scale -= 9
                    continue
                }
                var zeros = 0
                var rest = remainder
                if rest == 0 {
                    zeros = 9
                } else {
                    while rest % 10 == 0 { rest /= 10; zeros += 1 }
                }
                zeros = min(zeros, scale)
                if zeros > 0 {
                    coefficient = coefficient.quotientAndRemainder(dividingBy: UInt32(BigUInt.smallPowersOfTen[zeros])).quotient
                    scale -= zeros
                }
                break
            }
            if scale > maximumResultDigits || coefficient >= coefficientBound { throw CalculatorError("result too large") }
            return Number(negative: negative, coefficient: coefficient, scale: scale)
        }

        var isZero: Bool { coefficient.isZero }

        var negated: Number {
            isZero ? self : Number(negative: !negative, coefficient: coefficient, scale: scale)
        }

        /// Plain decimal text: no exponent, no trailing zeros, no `-0`.
        var text: String {
            var digits = Array(coefficient.decimalString.utf8)
            if scale > 0 {
                if digits.count <= scale {
                    digits = Array(repeating: UInt8(ascii: "0"), count: scale - digits.count + 1) + digits
                }
                digits.insert(UInt8(ascii: "."), at: digits.count - scale)
            }
            if negative && !isZero { digits.insert(UInt8(ascii: "-"), at: 0) }
            return String(decoding: digits, as: UTF8.self)
        }

        static func sum(_ a: Number, _ b: Number) throws(CalculatorError) -> Number {
            let scale = max(a.scale, b.scale)
            // Both scales are at most the digit limit, so the alignment is bounded.
            let x = a.coefficient * BigUInt.powerOfTen(scale - a.scale)
            let y = b.coefficient * BigUInt.powerOfTen(scale - b.scale)
            if a.negative == b.negative {
                return try make(negative: a.negative, coefficient: x + y, scale: scale)
            }
            if x >= y {
                return try make(negative: a.negative, coefficient: x - y, scale: scale)
            }
            return try make(negative: b.negative, coefficient: y - x, scale: scale)
        }

        static func product(_ a: Number, _ b: Number) throws(CalculatorError) -> Number {
            try make(negative: a.negative != b.negative, coefficient: a.coefficient * b.coefficient, scale: a.scale + b.scale)
        }

        static func quotient(_ a: Number, _ b: Number) throws(CalculatorError) -> Number {
            if b.isZero { throw CalculatorError("division by zero") }
            if a.isZero { return .zero }
            let negative = a.negative != b.negative
            if let exact = exactQuotient(a, b), let number = try? make(negative: negative, coefficient: exact.coefficient, scale: exact.scale) {
                return number
            }
            // Rounded: q = round(a / b × 10^digits), half to even.
            let shift = divisionFractionDigits + b.scale - a.scale
            var numerator = a.coefficient
            var denominator = b.coefficient
            if shift >= 0 {
                numerator = numerator * BigUInt.powerOfTen(shift)
            } else {
                denominator = denominator * BigUInt.powerOfTen(-shift)
            }
            let (truncated, remainder) = numerator.quotientAndRemainder(dividingBy: denominator)
            let twiceRemainder = remainder + remainder
            let roundsUp = twiceRemainder > denominator || (twiceRemainder == denominator && !truncated.isEven)
            let quotient = roundsUp ? truncated + BigUInt(1) : truncated
            return try make(negative: negative, coefficient: quotient, scale: divisionFractionDigits)
        }

        /// a / b as coefficient × 10^-scale when it terminates with at most the digit limit after
        /// the point; nil otherwise. Works on magnitudes only.
        private static func exactQuotient(_ a: Number, _ b: Number) -> (coefficient: BigUInt, scale: Int)? {
            // b = 2^twos × 5^fives × odd, odd coprime to 10: a/b terminates iff odd divides a.
            let (evenFree, divisorTwos) = b.coefficient.removingTrailingZeroBits()
            var divisorFives = 0
            let odd = evenFree.removingFactors(of: 5, count: &divisorFives, limit: Int.max)
            let (multiple, remainder) = a.coefficient.quotientAndRemainder(dividingBy: odd)
            guard remainder.isZero else { return nil }
            // multiple / (2^twos × 5^fives): cancel the common factors, then
            // 1 / (2^twos × 5^fives) = 2^(k - twos) × 5^(k - fives) / 10^k with k = max(twos, fives).
            let (halved, cancelledTwos) = multiple.removingTrailingZeroBits(limit: divisorTwos)
            var cancelledFives = 0
            let reduced = halved.removingFactors(of: 5, count: &cancelledFives, limit: divisorFives)
            let twos = divisorTwos - cancelledTwos
            let fives = divisorFives - cancelledFives
            let decimals = max(twos, fives)
            let scale = a.scale - b.scale + decimals
            guard scale <= maximumResultDigits else { return nil }
            let coefficient = reduced.shiftedLeft(by: decimals - twos) * BigUInt.power(5, decimals - fives)
            return (coefficient, scale)
        }

        static func power(_ base: Number, _ exponent: Number) throws(CalculatorError) -> Number {
            guard exponent.scale == 0 else { throw CalculatorError("exponent must be an integer") }
            guard exponent.coefficient <= BigUInt(UInt64(maximumPowerExponentMagnitude)) else {
                throw CalculatorError("exponent too large (at most \(maximumPowerExponentMagnitude) in magnitude)")
            }
            let n = Int(exponent.coefficient.lowUInt64)
            // Left to right, so every intermediate is base^j with j <= n: if one is over the
            // limit, base^n is too (digits and scale only grow with j for base ≠ 0, ±1).
            var result = Number.one
            var bit = Int.bitWidth - n.leadingZeroBitCount - 1
            while bit >= 0 {
                result = try product(result, result)
                if (n >> bit) & 1 == 1 { result = try product(result, base) }
                bit -= 1
            }
            return exponent.negative ? try quotient(.one, result) : result
        }
    }
}

// MARK: - Arbitrary-precision unsigned integers

extension Calculator {
    /// An unsigned integer of any size: 32-bit limbs, least significant first, no high zero limb.
    struct BigUInt: Equatable, Comparable, CustomStringConvertible {
        private(set) var limbs: [UInt32]

        static let smallPowersOfTen: [UInt64] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000]

        init() { limbs = [] }

        init(_ value: UInt64) {
            limbs = [UInt32(truncatingIfNeeded: value), UInt32(truncatingIfNeeded: value >> 32)]
            trim()
        }

        init(limbs: [UInt32]) {
            self.limbs = limbs
            trim()
        }

        private mutating func trim() {
            while limbs.last == 0 { limbs.removeLast() }
        }

        var isZero: Bool { limbs.isEmpty }
        var isEven: Bool { limbs.first.map { $0 & 1 == 0 } ?? true }
        var description: String { decimalString }

        /// The low 64 bits.
        var lowUInt64: UInt64 {
            let low = limbs.first.map(UInt64.init) ?? 0
            let high = limbs.count > 1 ? UInt64(limbs[1]) : 0
            return high << 32 | low
        }

        static func < (a: BigUInt, b: BigUInt) -> Bool {
            if a.limbs.count != b.limbs.count { return a.limbs.count < b.limbs.count }
            var index = a.limbs.count - 1
            while index >= 0 {
                if a.limbs[index] != b.limbs[index] { return a.limbs[index] < b.limbs[index] }
                index -= 1
            }
            return false
        }

        static func + (a: BigUInt, b: BigUInt) -> BigUInt {
            let (long, short) = a.limbs.count >= b.limbs.count ? (a.limbs, b.limbs) : (b.limbs, a.limbs)
            var result: [UInt32] = []
            result.reserveCapacity(long.count + 1)
            var carry: UInt64 = 0
            for index in 0..<long.count {
                let sum = UInt64(long[index]) + (index < short.count ? UInt64(short[index]) : 0) + carry
                result.append(UInt32(truncatingIfNeeded: sum))
                carry = sum >> 32
            }
            if carry != 0 { result.append(UInt32(carry)) }
            return BigUInt(limbs: result)
        }

        /// a - b; b must not exceed a (the result is garbage otherwise, never a trap).
        static func - (a: BigUInt, b: BigUInt) -> BigUInt {
            var result = a.limbs
            var borrow: Int64 = 0
            for index in 0..<result.count {
                let difference = Int64(result[index]) - (index < b.limbs.count ? Int64(b.limbs[index]) : 0) - borrow
                result[index] = UInt32(truncatingIfNeeded: difference)
                borrow = difference < 0 ? 1 : 0
            }
            return BigUInt(limbs: result)
        }

        static func * (a: BigUInt, b: BigUInt) -> BigUInt {
            if a.isZero || b.isZero { return BigUInt() }
            var result = [UInt32](repeating: 0, count: a.limbs.count + b.limbs.count)
            for i in 0..<a.limbs.count {
                let x = UInt64(a.limbs[i])
                if x == 0 { continue }
                var carry: UInt64 = 0
                for j in 0..<b.limbs.count {
                    // (2^32-1)^2 + 2 × (2^32-1) = 2^64 - 1: never overflows.
                    let t = x * UInt64(b.limbs[j]) + UInt64(result[i + j]) + carry
                    result[i + j] = UInt32(truncatingIfNeeded: t)
                    carry = t >> 32
                }
                result[i + b.limbs.count] = UInt32(carry)
            }
            return BigUInt(limbs: result)
        }

        /// self × multiplier + addend.
        func multiplied(by multiplier: UInt32, adding addend: UInt32 = 0) -> BigUInt {
            var result: [UInt32] = []
            result.reserveCapacity(limbs.count + 1)
            var carry = UInt64(addend)
            for limb in limbs {
                let t = UInt64(limb) * UInt64(multiplier) + carry
                result.append(UInt32(truncatingIfNeeded: t))
                carry = t >> 32
            }
            if carry != 0 { result.append(UInt32(carry)) }
            return BigUInt(limbs: result)
        }

        /// Division by a non-zero single limb (a zero divisor returns (0, 0)).
        func quotientAndRemainder(dividingBy divisor: UInt32) -> (quotient: BigUInt, remainder: UInt32) {
            guard divisor != 0 else { return (BigUInt(), 0) }
            var quotient = [UInt32](repeating: 0, count: limbs.count)
            var remainder: UInt64 = 0
            var index = limbs.count - 1
            while index >= 0 {
                let current = remainder << 32 | UInt64(limbs[index])
                quotient[index] = UInt32(truncatingIfNeeded: current / UInt64(divisor))
                remainder = current % UInt64(divisor)
                index -= 1
            }
            return (BigUInt(limbs: quotient), UInt32(remainder))
        }

        /// Knuth's algorithm D (TAOCP 4.3.1). A zero divisor returns (0, 0).
        func quotientAndRemainder(dividingBy divisor: BigUInt) -> (quotient: BigUInt, remainder: BigUInt) {
            if divisor.isZero { return (BigUInt(), BigUInt()) }
            if self < divisor { return (BigUInt(), self) }
            if divisor.limbs.count == 1 {
                let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor.limbs[0])
                return (quotient, BigUInt(UInt64(remainder)))
            }
            let shift = divisor.limbs[divisor.limbs.count - 1].leadingZeroBitCount
            let v = divisor.shiftedLeft(by: shift).limbs
            var u = shiftedLeft(by: shift).limbs
            if u.count == limbs.count { u.append(0) }
            let n = v.count
            let m = u.count - n - 1
            var quotient = [UInt32](repeating: 0, count: m + 1)
            let base: UInt64 = 1 << 32
            let top = UInt64(v[n - 1])
            let second = UInt64(v[n - 2])
            var j = m
            while j >= 0 {
                let numerator = UInt64(u[j + n]) << 32 | UInt64(u[j + n - 1])
                var qhat = numerator / top
                var rhat = numerator % top
                while qhat >= base || qhat * second > (rhat << 32 | UInt64(u[j + n - 2])) {
                    qhat -= 1
                    rhat += top
                    if rhat >= base { break }
                }
                // u[j...j+n] -= qhat × v
                var borrow: Int64 = 0
                var carry: UInt64 = 0
                for i in 0..<n {
                    let p = qhat * UInt64(v[i]) + carry
                    carry = p >> 32
                    let t = Int64(u[i + j]) - borrow - Int64(p & 0xFFFF_FFFF)
                    u[i + j] = UInt32(truncatingIfNeeded: t)
                    borrow = t < 0 ? 1 : 0
                }
                let t = Int64(u[j + n]) - borrow - Int64(carry)
                u[j + n] = UInt32(truncatingIfNeeded: t)
                if t < 0 {
                    // qhat was one too large: add v back.
                    qhat -= 1
                    var carryBack: UInt64 = 0
                    for i in 0..<n {
                        let s = UInt64(u[i + j]) + UInt64(v[i]) + carryBack
                        u[i + j] = UInt32(truncatingIfNeeded: s)
                        carryBack = s >> 32
                    }
                    u[j + n] = UInt32(truncatingIfNeeded: UInt64(u[j + n]) + carryBack)
                }
                quotient[j] = UInt32(truncatingIfNeeded: qhat)
                j -= 1
            }
            let remainder = BigUInt(limbs: Array(u[0..<n])).shiftedRight(by: shift)
            return (BigUInt(limbs: quotient), remainder)
        }

        /// self × 2^bits, for any bits ≥ 0.
        func shiftedLeft(by bits: Int) -> BigUInt {
            if isZero || bits <= 0 { return self }
            let whole = bits / 32
            let part = bits % 32
            var result = [UInt32](repeating: 0, count: whole)
            result.reserveCapacity(whole + limbs.count + 1)
            if part == 0 {
                result += limbs
            } else {
                var carry: UInt32 = 0
                for limb in limbs {
                    result.append(limb << part | carry)
                    carry = limb >> (32 - part)
                }
                result.append(carry)
            }
            return BigUInt(limbs: result)
        }

        /// self / 2^bits rounded down, for any bits ≥ 0.
        func shiftedRight(by bits: Int) -> BigUInt {
            if bits <= 0 { return self }
            let whole = bits / 32
            if whole >= limbs.count { return BigUInt() }
            let part = bits % 32
            let kept = Array(limbs[whole...])
            if part == 0 { return BigUInt(limbs: kept) }
            var result = [UInt32](repeating: 0, count: kept.count)
            for index in 0..<kept.count {
                let high = index + 1 < kept.count ? kept[index + 1] << (32 - part) : 0
                result[index] = kept[index] >> part | high
            }
            return BigUInt(limbs: result)
        }

        /// Removes up to `limit` factors of two; returns the rest and how many were removed.
        func removingTrailingZeroBits(limit: Int = Int.max) -> (BigUInt, Int) {
            guard !isZero else { return (self, 0) }
            var count = 0
            for limb in limbs {
                if limb == 0 {
                    count += 32
                } else {
                    count += limb.trailingZeroBitCount
                    break
                }
            }
            count = min(count, limit)
            return (shiftedRight(by: count), count)
        }

        /// Removes up to `limit` factors of a small prime, adding how many to `count`.
        func removingFactors(of prime: UInt32, count: inout Int, limit: Int) -> BigUInt {
            guard !isZero else { return self }
            // Chunks of prime^k that fit a limb first, then single factors.
            var chunk: UInt32 = prime
            var chunkFactors = 1
            while chunk <= UInt32.max / prime {
                chunk *= prime
                chunkFactors += 1
            }
            var value = self
            var removed = 0
            while limit - removed >= chunkFactors {
                let (quotient, remainder) = value.quotientAndRemainder(dividingBy: chunk)
                if remainder != 0 { break }
                value = quotient
                removed += chunkFactors
            }
            while removed < limit {
                let (quotient, remainder) = value.quotientAndRemainder(dividingBy: prime)
                if remainder != 0 { break }
                value = quotient
                removed += 1
            }
            count += removed
            return value
        }

        /// base^exponent for a small base, exponent ≥ 0.
        static func power(_ base: UInt32, _ exponent: Int) -> BigUInt {
            var result = BigUInt(1)
            var square = BigUInt(UInt64(base))
            var rest = exponent
            while rest > 0 {
                if rest & 1 == 1 { result = result * square }
                rest >>= 1
                if rest > 0 { square = square * square }
            }
            return result
        }

        /// 10^exponent, exponent ≥ 0.
        static func powerOfTen(_ exponent: Int) -> BigUInt {
            var result = BigUInt(1)
            var rest = exponent
            while rest >= 9 {
                result = result.multiplied(by: 1_000_000_000)
                rest -= 9
            }
            return rest > 0 ? result.multiplied(by: UInt32(smallPowersOfTen[rest])) : result
        }

        /// Base-10 digits, most significant first; "0" for zero.
        var decimalString: String {
            if isZero { return "0" }
            var chunks: [UInt32] = []
            var value = self
            while !value.isZero {
                let (quotient, remainder) = value.quotientAndRemainder(dividingBy: 1_000_000_000)
                chunks.append(remainder)
                value = quotient
            }
            var text = String(chunks[chunks.count - 1])
            for chunk in chunks.dropLast().reversed() {
                let digits = String(chunk)
                text += String(repeating: "0", count: 9 - digits.count) + digits
            }
            return text
        }
    }
}
