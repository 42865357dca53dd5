/// Splits a Server-Sent Events byte stream into events: each event's name (`event:`) and data (its
/// `data:` lines joined with newlines), scanning bytes only: no JSON decoding here. Pure; fed in any
/// splits. Lines end with LF, CRLF or CR; a blank line ends an event; comments (`:`) and other fields
/// are skipped. An event larger than `eventBytesMax` is a failure (a hostile or broken provider).
public struct SSEScanner: Sendable {
    public static let eventBytesMax = 4 << 20

    private var buffer: [UInt8] = []
    private var data: [UInt8] = []
    private var name: [UInt8]?
    private var hasData = false
    private var scanned = 0
    private var lastWasCR = false

    public init() {}

    public enum Failure: Error, Equatable { case eventTooLarge }

    public struct Event: Equatable, Sendable {
        public var name: [UInt8]?
        public var data: [UInt8]
    }

    /// Feeds bytes; returns every event they complete.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(Failure) -> [Event] {
        assert(data.count <= Self.eventBytesMax, "an event grew past its limit")
        buffer.append(contentsOf: bytes)
        var events: [Event] = []
        var lineStart = 0
        var index = scanned
        while index < buffer.count {
            let byte = buffer[index]
            if byte == 0x0a || byte == 0x0d {
                if byte == 0x0a, lastWasCR, index == lineStart {
                    // The LF of a CRLF whose CR ended the previous line.
                    lastWasCR = false
                    index += 1
                    lineStart = index
                    continue
                }
                lastWasCR = byte == 0x0d
                let line = buffer[lineStart..<index]
                if line.isEmpty {
                    if hasData { events.append(Event(name: name, data: data)) }
                    data.removeAll(keepingCapacity: true)
                    name = nil
                    hasData = false
                } else {
                    take(line)
                }
                index += 1
                lineStart = index
            } else {
                lastWasCR = false
                index += 1
            }
        }
        buffer.removeFirst(lineStart)
        scanned = buffer.count
        if buffer.count + data.count > Self.eventBytesMax { throw .eventTooLarge }
        return events
    }

    private mutating func take(_ line: ArraySlice<UInt8>) {
        let colon = line.firstIndex(of: 0x3a) ?? line.endIndex
        let field = line[line.startIndex..<colon]
        var value = line[(colon < line.endIndex ? colon + 1 : colon)...]
        if value.first == 0x20 { value = value.dropFirst() }
        if field.elementsEqual("event".utf8) {
            name = Array(value)
            return
        }
        guard field.elementsEqual("data".utf8) else { return }  // comments, id, retry
        if hasData { data.append(0x0a) }
        data.append(contentsOf: value)
        hasData = true
    }
}
