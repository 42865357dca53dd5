import Testing
@testable import AEXHost

@Suite struct BalanceTests {
    @Test func reservationsFitTheBudgetExactly() {
        var balance = Balance(budget: MicroUSD(100))
        let first = balance.reserve(MicroUSD(60))
        let tooMuch = balance.reserve(MicroUSD(41))
        let rest = balance.reserve(MicroUSD(40))
        let more = balance.reserve(MicroUSD(1))
        #expect(first && !tooMuch && rest && !more, "60 fits, 41 more does not, 40 does, then nothing")
        #expect(balance.remaining == .zero && balance.overdraft == .zero && balance.reserved == MicroUSD(100))
    }

    @Test func aSettlementAboveItsReservationIsAnOverdraftThatRefusesEverything() {
        var balance = Balance(budget: MicroUSD(100))
        _ = balance.reserve(MicroUSD(100))
        let applied = balance.settle(reserved: MicroUSD(100), cost: MicroUSD(130))
        #expect(applied == MicroUSD(130) && balance.spent == MicroUSD(130) && balance.reserved == .zero)
        #expect(balance.remaining == MicroUSD(-30) && balance.overdraft == MicroUSD(30))
        let refused = balance.reserve(MicroUSD(1))
        #expect(!refused, "nothing fits until topped up")
        balance.setBudget(MicroUSD(200))
        let afterTopUp = balance.reserve(MicroUSD(70))
        #expect(afterTopUp)
    }

    @Test func spentNeverWrapsAndExtremesSaturate() {
        var balance = Balance(budget: MicroUSD(Int64.max), spent: MicroUSD(Int64.max - 5))
        let reserved = balance.reserve(MicroUSD(5))
        let applied = balance.settle(reserved: MicroUSD(5), cost: MicroUSD(Int64.max))
        #expect(reserved && applied == MicroUSD(5) && balance.spent == MicroUSD(Int64.max))
        let deep = Balance(budget: .zero, spent: MicroUSD(Int64.max), reserved: MicroUSD(Int64.max))
        #expect(deep.committed == MicroUSD(Int64.max) && deep.remaining == MicroUSD(-Int64.max))
    }

    @Test func changesAreSummedWithCheckedArithmetic() throws {
        var change = BalanceChange.reservation(MicroUSD(50))
        try change.add(.settlement(reserved: MicroUSD(50), cost: MicroUSD(20)))
        #expect(change == BalanceChange(spentMicro: 20, reservedMicro: 0))
        var huge = BalanceChange(spentMicro: Int64.max, reservedMicro: 0)
        var overflowed = false
        do { try huge.add(BalanceChange(spentMicro: 1, reservedMicro: 0)) } catch { overflowed = error == .overflow }
        var balance = Balance(budget: MicroUSD(10), spent: MicroUSD(Int64.max))
        var applyOverflowed = false
        do { try balance.apply(BalanceChange(spentMicro: 1, reservedMicro: 0)) } catch { applyOverflowed = error == .overflow }
        #expect(overflowed && applyOverflowed)
    }
}
