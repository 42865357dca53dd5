import Testing
@testable import AEXHost

@Suite struct SSEScannerTests {
    static let stream = Array("data: {\"a\":1}\n\n: comment\nevent: x\ndata: line1\ndata: line2\n\ndata:[DONE]\r\n\r\n".utf8)
    static let expected = [
        SSEScanner.Event(name: nil, data: Array("{\"a\":1}".utf8)),
        SSEScanner.Event(name: Array("x".utf8), data: Array("line1\nline2".utf8)),
        SSEScanner.Event(name: nil, data: Array("[DONE]".utf8)),
    ]

    @Test func eventsAtEverySplit() throws {
        for split in 0...Self.stream.count {
            var scanner = SSEScanner()
            var events = try scanner.feed(Self.stream[..<split])
            events += try scanner.feed(Self.stream[split...])
            #expect(events == Self.expected, "split at \(split)")
        }
        var scanner = SSEScanner()
        var events: [SSEScanner.Event] = []
        for byte in Self.stream { events += try scanner.feed([byte]) }
        #expect(events == Self.expected)
    }

    @Test func crOnlyLineEndsAndOversizedEvents() throws {
        var scanner = SSEScanner()
        #expect(try scanner.feed(Array("data: x\r\rdata: y\r\r".utf8)).map(\.data) == [Array("x".utf8), Array("y".utf8)])
        var big = SSEScanner()
        #expect(throws: SSEScanner.Failure.eventTooLarge) {
            _ = try big.feed([UInt8](repeating: 0x61, count: SSEScanner.eventBytesMax + 1))
        }
    }
}
