import Testing
@testable import AEXHost

@Suite struct MoneyFormatTests {
    @Test(arguments: [
        ("2.01", 2_010_000), ("0", 0), ("0.000001", 1), (".5", 500_000), ("5.", 5_000_000), ("10", 10_000_000),
        ("1.999999", 1_999_999), ("0.10", 100_000), ("+3", 3_000_000), ("9223372036854.775807", Int64.max),
        ("0.29", 290_000), ("1.1", 1_100_000),
    ] as [(String, Int64)])
    func parsesExactDecimals(text: String, micro: Int64) throws {
        #expect(try MoneyFormat.parseUSD(text) == MicroUSD(micro))
    }

    @Test(arguments: [
        ("-1", MoneyError.negative), ("-0.01", .negative), ("1.0000001", .tooManyDecimals), ("abc", .notANumber),
        ("", .notANumber), (".", .notANumber), ("1e3", .notANumber), ("1,5", .notANumber), (" 1", .notANumber),
        ("9223372036854.775808", .overflow), ("99999999999999999999", .overflow), ("1.2.3", .notANumber),
    ])
    func refusesBadAmounts(text: String, error: MoneyError) {
        #expect(throws: error) { try MoneyFormat.parseUSD(text) }
    }

    @Test func formatsWithoutRoundingErrors() {
        #expect(MoneyFormat.usd(MicroUSD(2_010_000)) == "2.01")
        #expect(MoneyFormat.usd(MicroUSD(1)) == "0.000001")
        #expect(MoneyFormat.usd(MicroUSD(0)) == "0.00")
        #expect(MoneyFormat.usd(MicroUSD(-500_000)) == "-0.50")
        #expect(MoneyFormat.usd(MicroUSD(Int64.min)) == "-9223372036854.775808")
    }

    @Test func roundTripsEveryCentAndSomeMicros() throws {
        for micro in Array(stride(from: Int64(0), through: 3_000_000, by: 10_000)) + [1, 7, 123_457, 999_999_999] {
            #expect(try MoneyFormat.parseUSD(MoneyFormat.usd(MicroUSD(micro))) == MicroUSD(micro))
        }
    }

    @Test func checkedArithmetic() throws {
        #expect(try MicroUSD(5).adding(MicroUSD(7)) == MicroUSD(12))
        #expect(throws: MoneyError.overflow) { try MicroUSD(Int64.max).adding(MicroUSD(1)) }
        #expect(throws: MoneyError.overflow) { try MicroUSD(Int64.min).subtracting(MicroUSD(1)) }
    }
}
