import Testing
@testable import AEXHost

@Suite struct ChunkFramingTests {
    @Test func sizesInLowercaseHexThenTheBytes() {
        for size in [1, 9, 10, 15, 16, 17, 255, 256, 4_095, 4_096, 65_535, 1 << 20] {
            let bytes = [UInt8](repeating: 0x61, count: size)
            var out: [UInt8] = [0x7a]
            HTTPResponseHead.appendChunk(bytes, to: &out)
            let expected = [0x7a] + Array((String(size, radix: 16) + "\r\n").utf8) + bytes + [0x0d, 0x0a]
            #expect(out == expected, "size \(size)")
        }
        var out: [UInt8] = [1, 2]
        HTTPResponseHead.appendChunk([], to: &out)
        #expect(out == [1, 2])
    }
}
