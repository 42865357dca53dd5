import Glibc

/// Splits a Server-Sent Events byte stream into events: each event's name (`event:`) and data (its
/// `data:` lines joined with newlines), scanning bytes only: no JSON decoding here. Pure; fed in any
/// splits. Lines end with LF, CRLF or CR; a blank line ends an event; comments (`:`) and other fields
/// are skipped. An event larger than `eventBytesMax` is a failure (a hostile or broken provider).
///
/// Line ends are found with `memchr` (vectorized), and bytes fed while no line is unfinished are
/// scanned where they lie: only an unfinished line's bytes are kept between feeds.
public struct SSEScanner: Sendable {
    public static let eventBytesMax = 4 << 20

    /// The unfinished line's bytes (from its start).
    private var buffer: [UInt8] = []
    private var data: [UInt8] = []
    private var name: [UInt8]?
    private var hasData = false
    private var lastWasCR = false

    public init() {}

    public enum Failure: Error, Equatable { case eventTooLarge }

    public struct Event: Equatable, Sendable {
        public var name: [UInt8]?
        public var data: [UInt8]
    }

    /// Feeds bytes; returns every event they complete.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> [Event] {
        var events: [Event] = []
        if buffer.isEmpty {
            let consumed = scan(bytes, from: 0, into: &events)
            if consumed < bytes.count { buffer.append(contentsOf: bytes[consumed...]) }
        } else {
            let resumeAt = buffer.count  // the kept bytes hold no line end
            buffer.append(contentsOf: bytes)
            let consumed = buffer.withUnsafeBytes { scan($0, from: resumeAt, into: &events) }
            buffer.removeFirst(consumed)
        }
        if buffer.count + data.count > Self.eventBytesMax { throw .eventTooLarge }
        return events
    }

    public mutating func feed(_ bytes: some Collection<UInt8>) throws(Failure) -> [Event] {
        let copy = Array(bytes)
        var events: [Event] = []
        var failure: Failure?
        copy.withUnsafeBytes { view in
            do throws(Failure) { events = try feed(view) } catch { failure = error }
        }
        if let failure { throw failure }
        return events
    }

    /// Handles every complete line of `view` (scanning for line ends from `start`); returns where the
    /// unfinished line begins.
    private mutating func scan(_ view: UnsafeRawBufferPointer, from start: Int, into events: inout [Event]) -> Int {
        guard let base = view.baseAddress else { return 0 }
        var lineStart = 0
        var index = start
        while index < view.count {
            let remaining = view.count - index
            let lf = memchr(base + index, 0x0a, remaining).map { $0 - UnsafeMutableRawPointer(mutating: base) }
            let cr = memchr(base + index, 0x0d, (lf ?? view.count) - index).map { $0 - UnsafeMutableRawPointer(mutating: base) }
            guard let end = cr ?? lf else { break }
            let isLF = cr == nil
            if isLF, lastWasCR, end == lineStart {
                // The LF of a CRLF whose CR ended the previous line.
                lastWasCR = false
                index = end + 1
                lineStart = index
                continue
            }
            lastWasCR = !isLF
            if end == lineStart {
                if hasData { events.append(Event(name: name, data: data)) }
                data = []
                name = nil
                hasData = false
            } else {
                take(UnsafeRawBufferPointer(rebasing: view[lineStart..<end]))
            }
            index = end + 1
            lineStart = index
        }
        return lineStart
    }

    private static func equals(_ field: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        field.count == name.utf8CodeUnitCount && memcmp(field.baseAddress!, name.utf8Start, field.count) == 0
    }

    private mutating func take(_ line: UnsafeRawBufferPointer) {
        let colon = line.firstIndex(of: 0x3a) ?? line.endIndex
        let field = UnsafeRawBufferPointer(rebasing: line[..<colon])
        var valueStart = colon < line.endIndex ? colon + 1 : colon
        if valueStart < line.endIndex, line[valueStart] == 0x20 { valueStart += 1 }
        let value = UnsafeRawBufferPointer(rebasing: line[valueStart...])
        if Self.equals(field, "event") {
            name = Array(value)
            return
        }
        guard Self.equals(field, "data") else { return }  // comments, id, retry
        if hasData {
            data.append(0x0a)
            data.append(contentsOf: value)
        } else {
            data = Array(value)
        }
        hasData = true
    }
}
