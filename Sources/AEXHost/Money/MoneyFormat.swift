/// Exact conversions between decimal US-dollar text and `MicroUSD`, by string arithmetic only.
public enum MoneyFormat {
    public static let decimalsMax = 6

    /// Parses `2.01`, `0`, `.5`, `10.000001`. Rejects signs, exponents, spaces, more than 6 decimals
    /// and anything that overflows `Int64` micro-USD.
    public static func parseUSD(_ text: String) throws(MoneyError) -> MicroUSD {
        var bytes = Array(text.utf8)
        if bytes.first == UInt8(ascii: "-") { throw .negative }
        if bytes.first == UInt8(ascii: "+") { bytes.removeFirst() }
        guard !bytes.isEmpty else { throw .notANumber }
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))
        let whole = dot.map { Array(bytes[..<$0]) } ?? bytes
        let fraction = dot.map { Array(bytes[($0 + 1)...]) } ?? []
        guard !(whole.isEmpty && fraction.isEmpty) else { throw .notANumber }
        guard whole.allSatisfy(isDigit), fraction.allSatisfy(isDigit) else { throw .notANumber }
        if fraction.count > decimalsMax {
            throw .tooManyDecimals
        }
        var micro: Int64 = 0
        for digit in whole + fraction + Array(repeating: UInt8(ascii: "0"), count: decimalsMax - fraction.count) {
            let (times10, o1) = micro.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
            if o1 || o2 { throw .overflow }
            micro = next
        }
        return MicroUSD(micro)
    }

    /// `2010000` → `2.01`; `1` → `0.000001`; `-500000` → `-0.50`.
    public static func usd(_ amount: MicroUSD) -> String {
        let magnitude = amount.value.magnitude
        let whole = magnitude / UInt64(MicroUSD.perUSD)
        var fraction = String(magnitude % UInt64(MicroUSD.perUSD))
        fraction = String(repeating: "0", count: decimalsMax - fraction.count) + fraction
        while fraction.count > 2 && fraction.hasSuffix("0") { fraction.removeLast() }
        return (amount.value < 0 ? "-" : "") + "\(whole).\(fraction)"
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
