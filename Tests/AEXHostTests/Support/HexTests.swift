import Testing
@testable import AEXHost

@Suite struct HexTests {
    @Test func decodesWhatItEncodes() {
        let bytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xab, 0xff]
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
        #expect(Hex.decode("ABff") == [0xab, 0xff])
        #expect(Hex.decode("abc") == nil, "odd length")
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("") == [])
    }
}
