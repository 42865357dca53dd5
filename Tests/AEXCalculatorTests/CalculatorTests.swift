import Testing
@testable import AEXCalculator

/// `Calculator`: the grammar, exact decimal arithmetic, the division and power rules, the error
/// messages and every limit; then random inputs from fixed seeds, so every run is the same.
@Suite struct CalculatorTests {
    /// The result text, or "error: <message>", so one string comparison shows both.
    static func outcome(_ expression: String) -> String {
        switch Calculator.evaluate(expression) {
        case .success(let text): return text
        case .failure(let error): return "error: \(error.message)"
        }
    }

    /// Plain decimal text as `evaluate` promises it: `-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?`, never `-0`.
    static func isPlainDecimal(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes = bytes.dropFirst() }
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let point = bytes.firstIndex(of: UInt8(ascii: "."))
        let integer = bytes[..<(point ?? bytes.endIndex)]
        guard !integer.isEmpty, integer.allSatisfy(isDigit) else { return false }
        if integer.count > 1 && integer.first == UInt8(ascii: "0") { return false }
        if let point {
            let fraction = bytes[(point + 1)...]
            guard !fraction.isEmpty, fraction.allSatisfy(isDigit), fraction.last != UInt8(ascii: "0") else { return false }
        }
        if negative && text == "-0" { return false }
        return true
    }

    static func zeros(_ count: Int) -> String { String(repeating: "0", count: count) }

    // MARK: Grammar

    @Test(arguments: [
        ("1+2*3", "7"), ("(1+2)*3", "9"), ("1*2+3", "5"), ("2*3/4", "1.5"), ("2+3-4", "1"),
        ("10-4-3", "3"), ("100/10/5", "2"), ("8/2/2", "2"), ("2^3^2", "512"), ("(2^3)^2", "64"),
        ("2**3**2", "512"), ("2 ** 3", "8"), ("-2^2", "-4"), ("(-2)^2", "4"), ("-2^-2", "-0.25"),
        ("2^-1^2", "0.5"), ("1-2^2", "-3"), ("2*-2^2", "-8"), ("2^2*3", "12"), ("3*2^2", "12"),
        ("-3*-3", "9"), ("--3", "3"), ("+-+3", "-3"), ("- - -3", "-3"), ("1 - -1", "2"), ("+5", "5"),
        (" ( 1 + 2 ) ", "3"), ("\t1\n+\r2", "3"), ("((((7))))", "7"), ("2^(1+1)^2", "16"), ("-(2)^2", "-4"),
        ("6/2*3", "9"), ("6/(2*3)", "1"), ("2^2^0", "2"), ("(2^2)^0", "1"),
    ])
    func precedenceAndAssociativity(expression: String, expected: String) {
        #expect(Self.outcome(expression) == expected)
    }

    // MARK: Exact decimals

    @Test(arguments: [
        ("0.1+0.2", "0.3"), ("0.1+0.2-0.3", "0"), ("1.10+2.20", "3.3"), ("0.1*3", "0.3"), ("123.456-0.456", "123"),
        ("1 - 0.9999999999999999999999999999999999999999", "0.0000000000000000000000000000000000000001"),
        ("1e3", "1000"), ("2.5E-2", "0.025"), (".5", "0.5"), ("3.", "3"), ("1.5e+1", "15"), ("12.34e1", "123.4"),
        ("100e-2", "1"), ("1e0", "1"), ("007", "7"), ("0.000", "0"), ("-0", "0"), ("-0.0*5", "0"), ("1e-3-0.001", "0"),
        ("0-0.5", "-0.5"), ("-.5+.25", "-0.25"), ("3.14159 * 2", "6.28318"), ("0.1^3", "0.001"),
        ("1e0000000000000000000000000000003", "1000"),
    ])
    func exactDecimalArithmetic(expression: String, expected: String) {
        #expect(Self.outcome(expression) == expected)
    }

    @Test func bigProductsAreExact() {
        #expect(Self.outcome("123456789012345678901234567890 * 987654321") == "121932631124828532112482853211126352690")
        #expect(Self.outcome("99999999999999999999^2") == "9999999999999999999800000000000000000001")
        #expect(Self.outcome("2^100") == "1267650600228229401496703205376")
        #expect(Self.outcome("(2^64-1)*(2^64+1)") == "340282366920938463463374607431768211455")
        #expect(Self.outcome("-123456789012345678901234567890 * 0.000000001") == "-123456789012345678901.23456789")
        #expect(Self.outcome("1e500 * 1e500") == "1" + Self.zeros(1000))
        let twoToTheThousand = Self.outcome("2^1000")
        #expect(twoToTheThousand.count == 302 && twoToTheThousand.hasPrefix("107150860718626732094842504906"))
        #expect(Self.outcome("(2^100)^10") == twoToTheThousand)
        #expect(Self.outcome("2^500 * 2^500") == twoToTheThousand)
        #expect(Self.outcome("2^1000 / 2^999") == "2")
        #expect(Self.outcome("2^1000 - 2^1000 + 1") == "1")
    }

    // MARK: Division

    @Test(arguments: [
        ("1/4", "0.25"), ("10/4", "2.5"), ("1/8", "0.125"), ("7/-2", "-3.5"), ("6/3", "2"), ("0/5", "0"),
        ("1/1024", "0.0009765625"), ("0.3/0.1", "3"), ("1/0.125", "8"), ("1e-1000/1e-1000", "1"), ("1e3/1e-3", "1000000"),
        ("123456789012345678901234567890/10", "12345678901234567890123456789"),
        // Terminating quotients stay exact past 32 digits: 2^-33 has 33.
        ("1/2^33", "0.000000000116415321826934814453125"), ("1/8589934592", "0.000000000116415321826934814453125"),
        ("49/7", "7"), ("1.21/1.1", "1.1"),
    ])
    func terminatingDivisionIsExact(expression: String, expected: String) {
        #expect(Self.outcome(expression) == expected)
    }

    @Test(arguments: [
        ("1/3", "0.33333333333333333333333333333333"), ("2/3", "0.66666666666666666666666666666667"),
        ("-2/3", "-0.66666666666666666666666666666667"), ("2/-3", "-0.66666666666666666666666666666667"),
        ("1/7", "0.14285714285714285714285714285714"), ("10/3", "3.33333333333333333333333333333333"),
        ("1/6", "0.16666666666666666666666666666667"), ("1/3*3", "0.99999999999999999999999999999999"),
        ("1e-40/3", "0"), ("-1e-40/3", "0"), ("2e-32/3", "0.00000000000000000000000000000001"),
        ("1/99999999999999999999999999999999", "0.00000000000000000000000000000001"),
        ("3^-1", "0.33333333333333333333333333333333"), ("(2/3)*3", "2.00000000000000000000000000000001"),
        // Terminating, but 2^-3000 has 3,000 digits after the point: over the limit, so rounded.
        ("1/2^3000", "0"),
    ])
    func repeatingDivisionRoundsToThirtyTwoDigits(expression: String, expected: String) {
        #expect(Self.outcome(expression) == expected)
    }

    /// A tie can only come from a terminating quotient that is over the digit limit: a 1,968-digit
    /// integer part plus 33 digits after the point (2,001 in all) rounds to 32 after the point.
    @Test func roundingBreaksTiesToEven() {
        let tenToThe1967 = "1" + Self.zeros(1967)
        // ...0|5 -> ...0 (down to even), ...1|5 -> ...2 (up to even), the same for negatives.
        #expect(Self.outcome("(2*10^1967 + 1e-32)/2") == tenToThe1967)
        #expect(Self.outcome("(2*10^1967 + 3e-32)/2") == tenToThe1967 + "." + Self.zeros(31) + "2")
        #expect(Self.outcome("(2*10^1967 + 5e-32)/2") == tenToThe1967 + "." + Self.zeros(31) + "2")
        #expect(Self.outcome("(2*10^1967 + 7e-32)/2") == tenToThe1967 + "." + Self.zeros(31) + "4")
        #expect(Self.outcome("-(2*10^1967 + 3e-32)/2") == "-" + tenToThe1967 + "." + Self.zeros(31) + "2")
        #expect(Self.outcome("(2*10^1967 + 1e-32)/-2") == "-" + tenToThe1967)
        // Above and below the half are not ties: 1/4 and 3/4 of the last place.
        #expect(Self.outcome("(4*10^1967 + 1e-32)/4") == tenToThe1967)
        #expect(Self.outcome("(4*10^1967 + 3e-32)/4") == tenToThe1967 + "." + Self.zeros(31) + "1")
        // The dividend itself is just within the limit: 1,968 + 32 digits.
        #expect(Self.outcome("2*10^1967 + 1e-32").count == 2001)
    }

    // MARK: Powers

    @Test(arguments: [
        ("2^10", "1024"), ("2^0", "1"), ("0^0", "1"), ("0^5", "0"), ("(-2)^3", "-8"), ("(-2)^4", "16"),
        ("(-2)^-3", "-0.125"), ("0.5^3", "0.125"), ("1.1^2", "1.21"), ("2^-2", "0.25"), ("10^-5", "0.00001"),
        ("2^2.0", "4"), ("2^(6/3)", "4"), ("(-1)^10000", "1"), ("(-1)^-9999", "-1"), ("1^10000", "1"), ("1^-10000", "1"),
        ("0.1^-3", "1000"), ("1.5^-2", "0.44444444444444444444444444444444"), ("2^1e1", "1024"), ("(1/2)^-2", "4"),
    ])
    func powers(expression: String, expected: String) {
        #expect(Self.outcome(expression) == expected)
    }

    @Test func bigPowersAndTheirLimits() {
        let sevens = Self.outcome("7^2366")
        #expect(sevens.count == 2000 && sevens.hasPrefix("31766010398761900184") && sevens.hasSuffix("55349483270562301649"))
        #expect(Self.outcome("7^2367") == "error: result too large")
        #expect(Self.outcome("2^10000") == "error: result too large")
        #expect(Self.outcome("0.5^10000") == "error: result too large")
        // 1/x^n: x^n is an intermediate result, so it is held to the limit too.
        #expect(Self.outcome("2^-10000") == "error: result too large")
        #expect(Self.outcome("10^1999").count == 2000)
        #expect(Self.outcome("10^-1999") == "0." + Self.zeros(1998) + "1")
    }

    @Test(arguments: [
        ("2^0.5", "exponent must be an integer"), ("2^(1/3)", "exponent must be an integer"),
        ("4^-0.5", "exponent must be an integer"), ("0^0.1", "exponent must be an integer"),
        ("2^10001", "exponent too large (at most 10000 in magnitude)"), ("2^-10001", "exponent too large (at most 10000 in magnitude)"),
        ("1^10001", "exponent too large (at most 10000 in magnitude)"), ("2^1e1000", "exponent too large (at most 10000 in magnitude)"),
        ("9^9^9", "exponent too large (at most 10000 in magnitude)"), ("9^9999^9999", "result too large"),
    ])
    func refusedPowers(expression: String, message: String) {
        #expect(Self.outcome(expression) == "error: \(message)")
    }

    // MARK: Errors

    @Test(arguments: [
        "1/0", "0/0", "1/(2-2)", "(1+2)*(3/(4-4))+5", "1/0.000", "2^(1/0)", "1/(1e-1000*0)", "0^-1", "0^-2",
        "(0.0)^-10000", "1+2+3/(0*(4+5))", "-1/0", "1/-0", "((1/(1-1)))", "1/(0.1+0.2-0.3)",
    ])
    func divisionByZero(expression: String) {
        #expect(Self.outcome(expression) == "error: division by zero")
    }

    @Test(arguments: [
        ("", "empty expression"), ("   ", "empty expression"), ("1+", "unexpected end of expression"),
        ("(1", "missing ')' for '(' at position 1"), ("1 + (2 * 3", "missing ')' for '(' at position 5"),
        ("1)", "unexpected ')' at position 2"), ("(1 + 2))", "unexpected ')' at position 8"),
        ("1..2", "malformed number at position 1"), ("1.2.3", "malformed number at position 1"),
        ("abc", "unexpected character 'a' at position 1"), ("2 x 3", "unexpected character 'x' at position 3"),
        ("1 2", "unexpected number at position 3"), ("()", "unexpected ')' at position 2"),
        ("*1", "unexpected '*' at position 1"), ("1***2", "unexpected '*' at position 4"), ("1+*2", "unexpected '*' at position 3"),
        ("1e", "malformed number at position 1"), ("1e+", "malformed number at position 1"), ("1e5e3", "unexpected character 'e' at position 4"),
        (".", "malformed number at position 1"), ("2^", "unexpected end of expression"), ("^2", "unexpected '^' at position 1"),
        ("2 ** ** 3", "unexpected '**' at position 6"), ("(1)(2)", "unexpected '(' at position 4"), ("2(3)", "unexpected '(' at position 2"),
        ("1,5", "unexpected character ',' at position 2"), ("1e1001", "number exponent too large at position 1 (at most 1000)"),
        ("1e-1001", "number exponent too large at position 1 (at most 1000)"),
        ("2+1e99999999999999999999999999999", "number exponent too large at position 3 (at most 1000)"),
        ("\u{0}", "unexpected character '\\0' at position 1"), ("1 \u{E9}", "unexpected character '\\u{00E9}' at position 3"),
    ])
    func malformedInputs(expression: String, message: String) {
        #expect(Self.outcome(expression) == "error: \(message)")
    }

    // MARK: Limits

    @Test func limits() {
        #expect(Calculator.maximumExpressionCharacters == 1_000)
        #expect(Calculator.maximumNestingLevels == 64)
        #expect(Calculator.maximumPowerExponentMagnitude == 10_000)
        #expect(Calculator.maximumLiteralExponentMagnitude == 1_000)
        #expect(Calculator.maximumResultDigits == 2_000)

        // Length, in characters.
        #expect(Self.outcome(String(repeating: "1", count: 1000)) == String(repeating: "1", count: 1000))
        #expect(Self.outcome(String(repeating: "1", count: 1001)) == "error: expression too long")
        #expect(Self.outcome(String(repeating: " ", count: 1000) + "1") == "error: expression too long")
        #expect(Self.outcome(String(repeating: "1+", count: 499) + "1") == "500")
        #expect(Self.outcome(String(repeating: "\u{E9}", count: 5_000_000)) == "error: expression too long")

        // Nesting.
        let deepest = String(repeating: "(", count: 64) + "1" + String(repeating: ")", count: 64)
        #expect(Self.outcome(deepest) == "1")
        let tooDeep = String(repeating: "(", count: 65) + "1" + String(repeating: ")", count: 65)
        #expect(Self.outcome(tooDeep) == "error: expression nested too deeply (more than 64 levels)")
        #expect(Self.outcome(String(repeating: "(", count: 999)) == "error: expression nested too deeply (more than 64 levels)")
        // Runs of signs and chains of powers are not nesting.
        #expect(Self.outcome(String(repeating: "-", count: 998) + "1") == "1")
        #expect(Self.outcome(String(repeating: "1^", count: 499) + "1") == "1")

        // Digits: 2,000 on either side of the point, counting the printed zeros.
        #expect(Self.outcome("10^1999") == "1" + Self.zeros(1999))
        #expect(Self.outcome("10^2000") == "error: result too large")
        #expect(Self.outcome("10^1999 * 10") == "error: result too large")
        #expect(Self.outcome("10^1999 - 1") == String(repeating: "9", count: 1999))
        #expect(Self.outcome("10^1999 + 0.5") == "error: result too large")
        #expect(Self.outcome("1e-1000 * 1e-1000") == "0." + Self.zeros(1999) + "1")
        #expect(Self.outcome("1e-1000 * 1e-1000 * 0.1") == "error: result too large")
        #expect(Self.outcome("1e1000") == "1" + Self.zeros(1000))
        #expect(Self.outcome("1e-1000") == "0." + Self.zeros(999) + "1")
        #expect(Self.outcome("9e999 * 9e999") == "81" + Self.zeros(1998))
        #expect(Self.outcome("9e999 * 9e999 * 2") == "error: result too large")
        #expect(Self.outcome("1e1000 / 1e-1000") == "error: result too large")
        // An intermediate over the limit fails even if the final value would fit.
        #expect(Self.outcome("10^2000 / 10^1000") == "error: result too large")
    }

    /// Hostile but valid expressions finish quickly (the budget is generous for debug builds).
    @Test func worstCasesFinishQuickly() {
        let heavy = [
            String(repeating: "7^2366/3^1999+", count: 70) + "1",
            String(repeating: "(7^2366)*", count: 110) + "1",
            String(repeating: "1/(7^2366)+", count: 90) + "1",
            String(repeating: "9^9999^", count: 140) + "9",
            String(repeating: "7^-2366+", count: 124) + "1",
        ]
        for expression in heavy {
            #expect(expression.count <= Calculator.maximumExpressionCharacters)
            let clock = ContinuousClock()
            let elapsed = clock.measure { _ = Calculator.evaluate(expression) }
            #expect(elapsed < .seconds(20), "\(expression.prefix(20))... took \(elapsed)")
        }
    }

    // MARK: Random inputs

    /// Random strings over the grammar's characters: never a crash, and every success is plain
    /// decimal text that evaluates to itself.
    @Test func fuzzRandomStrings() {
        var random = SplitMix64(seed: 0xA3C5_0001)
        let alphabet = Array("0123456789.+-*/^()eE  ")
        var successes = 0
        for number in 0..<4000 {
            let length = number % 10 == 0 ? Int.random(in: 0...400, using: &random) : Int.random(in: 0...24, using: &random)
            let expression = String((0..<length).map { _ in alphabet.randomElement(using: &random)! })
            guard case .success(let text) = Calculator.evaluate(expression) else { continue }
            successes += 1
            #expect(Self.isPlainDecimal(text), "\(expression) -> \(text)")
            if text.count <= Calculator.maximumExpressionCharacters {
                #expect(Self.outcome(text) == text, "\(expression) -> \(text)")
            }
        }
        #expect(successes > 100)
    }

    /// Random expressions of small integers against `Int` arithmetic done here, rendered with the
    /// fewest parentheses the precedence rules allow (and sometimes more).
    @Test func randomIntegerExpressionsMatchIntArithmetic() {
        var random = SplitMix64(seed: 0xA3C5_0002)
        var checked = 0
        while checked < 500 {
            let tree = IntegerTree.random(depth: 4, &random)
            if case .literal = tree { continue }
            guard let value = tree.value else { continue }
            let text = tree.rendered(&random)
            #expect(Self.outcome(text) == String(value), "\(text)")
            checked += 1
        }
    }

    /// Random decimals with up to 9 digits and 6 decimals: sums, differences and products against
    /// the same arithmetic on integers scaled by a power of ten.
    @Test func randomDecimalArithmeticMatchesScaledIntegers() {
        var random = SplitMix64(seed: 0xA3C5_0003)
        for _ in 0..<500 {
            let (a, aScale) = (Int.random(in: -999_999_999...999_999_999, using: &random), Int.random(in: 0...6, using: &random))
            let (b, bScale) = (Int.random(in: -999_999_999...999_999_999, using: &random), Int.random(in: 0...6, using: &random))
            let scale = max(aScale, bScale)
            let alignedA = a * Self.powerOfTen(scale - aScale)
            let alignedB = b * Self.powerOfTen(scale - bScale)
            let left = Self.decimal(a, aScale)
            let right = Self.decimal(b, bScale)
            #expect(Self.outcome("\(left) + \(right)") == Self.decimal(alignedA + alignedB, scale))
            #expect(Self.outcome("\(left) - (\(right))") == Self.decimal(alignedA - alignedB, scale))
            #expect(Self.outcome("\(left) * (\(right))") == Self.decimal(a * b, aScale + bScale))
            if b != 0 {
                // Quotient ×1 back: (a/b)*b is a whenever a/b terminates.
                let quotient = Self.outcome("\(left) / (\(right))")
                #expect(Self.isPlainDecimal(quotient), "\(left) / \(right) -> \(quotient)")
            }
        }
    }

    /// The magnitude arithmetic underneath: q × d + r = n and r < d on operands built to reach the
    /// corner cases of long division (all-ones limbs, a top limb just above half, zero limbs).
    @Test func bigIntegerDivisionIsConsistent() {
        var random = SplitMix64(seed: 0xA3C5_0004)
        let special: [UInt32] = [0, 1, 2, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFE, 0xFFFF_FFFF]
        func limbs(_ count: Int) -> [UInt32] {
            (0..<count).map { _ in Bool.random(using: &random) ? special.randomElement(using: &random)! : UInt32.random(in: 0...UInt32.max, using: &random) }
        }
        for _ in 0..<3000 {
            let n = Calculator.BigUInt(limbs: limbs(Int.random(in: 0...12, using: &random)))
            let d = Calculator.BigUInt(limbs: limbs(Int.random(in: 1...8, using: &random)))
            guard !d.isZero else { continue }
            let (q, r) = n.quotientAndRemainder(dividingBy: d)
            #expect(q * d + r == n && r < d, "\(n) / \(d)")
        }
        #expect(Calculator.BigUInt.powerOfTen(30).decimalString == "1" + Self.zeros(30))
        #expect(Calculator.BigUInt(UInt64.max).decimalString == "18446744073709551615")
    }

    // MARK: Helpers

    static func powerOfTen(_ exponent: Int) -> Int {
        (0..<exponent).reduce(1) { result, _ in result * 10 }
    }

    /// value × 10^-scale as plain decimal text.
    static func decimal(_ value: Int, _ scale: Int) -> String {
        var digits = String(value.magnitude)
        if scale > 0 {
            if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
            while digits.hasSuffix("0") { digits.removeLast() }
            if digits.hasSuffix(".") { digits.removeLast() }
        }
        return value < 0 && digits != "0" ? "-" + digits : digits
    }
}

/// SplitMix64: a tiny seeded generator, so the random tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A small integer expression, its value in `Int` (nil on overflow or an inexact or zero
/// division), and its text.
indirect enum IntegerTree {
    case literal(Int)
    case negate(IntegerTree)
    case binary(Character, IntegerTree, IntegerTree)
    case power(IntegerTree, Int)

    static func random(depth: Int, _ random: inout SplitMix64) -> IntegerTree {
        let choice = depth == 0 ? 0 : Int.random(in: 0...9, using: &random)
        switch choice {
        case 0, 1: return .literal(Int.random(in: 0...12, using: &random))
        case 2: return .negate(.random(depth: depth - 1, &random))
        case 3: return .power(.random(depth: depth - 1, &random), Int.random(in: 0...3, using: &random))
        default:
            let op = Array("+-*/+-*").randomElement(using: &random)!
            return .binary(op, .random(depth: depth - 1, &random), .random(depth: depth - 1, &random))
        }
    }

    var value: Int? {
        switch self {
        case .literal(let value): return value
        case .negate(let operand): return operand.value.map { -$0 }
        case .power(let base, let exponent):
            guard let base = base.value else { return nil }
            var result = 1
            for _ in 0..<exponent {
                let (product, overflow) = result.multipliedReportingOverflow(by: base)
                if overflow || product.magnitude > 1 << 40 { return nil }
                result = product
            }
            return result
        case .binary(let op, let left, let right):
            guard let a = left.value, let b = right.value else { return nil }
            let (result, overflow): (Int, Bool)
            switch op {
            case "+": (result, overflow) = a.addingReportingOverflow(b)
            case "-": (result, overflow) = a.subtractingReportingOverflow(b)
            case "*": (result, overflow) = a.multipliedReportingOverflow(by: b)
            default:
                guard b != 0, a % b == 0 else { return nil }
                (result, overflow) = a.dividedReportingOverflow(by: b)
            }
            return overflow || result.magnitude > 1 << 40 ? nil : result
        }
    }

    /// Binding strength: the higher, the tighter.
    private var precedence: Int {
        switch self {
        case .literal: return 5
        case .power: return 4
        case .negate: return 3
        case .binary(let op, _, _): return op == "+" || op == "-" ? 1 : 2
        }
    }

    func rendered(_ random: inout SplitMix64) -> String {
        func child(_ tree: IntegerTree, needsParentheses: Bool, _ random: inout SplitMix64) -> String {
            let text = tree.rendered(&random)
            return needsParentheses || Int.random(in: 0..<10, using: &random) == 0 ? "(\(text))" : text
        }
        let space = Bool.random(using: &random) ? " " : ""
        switch self {
        case .literal(let value):
            return String(value)
        case .negate(let operand):
            return "-" + child(operand, needsParentheses: operand.precedence < 3, &random)
        case .power(let base, let exponent):
            let op = Bool.random(using: &random) ? "^" : "**"
            return child(base, needsParentheses: base.precedence <= 4, &random) + space + op + space + String(exponent)
        case .binary(let op, let left, let right):
            let strength = precedence
            let leftText = child(left, needsParentheses: left.precedence < strength, &random)
            let rightText = child(right, needsParentheses: right.precedence <= strength, &random)
            return leftText + space + String(op) + space + rightText
        }
    }
}
