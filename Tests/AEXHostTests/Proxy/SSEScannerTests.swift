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

    /// Mixed line ends at every split, and in seeded random pieces, against a line-by-line reference.
    @Test func mixedLineEndsInAnyPieces() throws {
        let text = "event: a\r\ndata: 1\r\n\r\ndata: 2\rdata: 3\r\rid: 9\ndata:4\n\n:c\r\n\r\ndata: 5\r\n\n\ndata: [DONE]\n\n"
        let stream = Array(text.utf8)
        let expected = [
            SSEScanner.Event(name: Array("a".utf8), data: Array("1".utf8)),
            SSEScanner.Event(name: nil, data: Array("2\n3".utf8)),
            SSEScanner.Event(name: nil, data: Array("4".utf8)),
            SSEScanner.Event(name: nil, data: Array("5".utf8)),
            SSEScanner.Event(name: nil, data: Array("[DONE]".utf8)),
        ]
        for split in 0...stream.count {
            var scanner = SSEScanner()
            var events = try scanner.feed(stream[..<split])
            events += try scanner.feed(stream[split...])
            #expect(events == expected, "split at \(split)")
        }
        var generator = SeededGenerator(seed: 0x55E)
        for _ in 0..<200 {
            var scanner = SSEScanner()
            var events: [SSEScanner.Event] = []
            var at = 0
            while at < stream.count {
                let size = Int(generator.next() % 9)
                let end = min(stream.count, at + size)
                events += try scanner.feed(stream[at..<end])
                at = end
            }
            #expect(events == expected)
        }
    }
}
