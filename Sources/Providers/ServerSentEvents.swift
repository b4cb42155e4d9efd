/// A parser of server-sent events (the WHATWG `text/event-stream` format), fed in chunks as
/// they arrive from the network.
///
/// vLLM and llama.cpp send `data: <json>` events ending in `data: [DONE]`; Anthropic sends
/// named events (`event: content_block_delta` then `data: <json>`). Lines may end in LF, CR
/// LF or CR; a line starting with `:` is a comment (keep-alive); a blank line dispatches the
/// event. A chunk may end anywhere, even inside a multi-byte character: unfinished lines
/// wait for the next chunk. An event larger than `maxEventBytes` is an error, so a server
/// that never sends a line end cannot fill the reader's memory.
public struct ServerSentEvents: Sendable {
    public struct Event: Sendable, Equatable {
        /// The `event:` field; "message" when the server named none.
        public var name: String
        /// The `data:` lines, joined with LF.
        public var data: String
        public var id: String?

        public init(name: String = "message", data: String, id: String? = nil) {
            self.name = name
            self.data = data
            self.id = id
        }
    }

    public struct Overflow: Error, Sendable, Equatable {
        public var limit: Int
    }

    public let maxEventBytes: Int
    private var pending: [UInt8] = []
    /// True after a CR ended a line: a LF right after it belongs to the same line end.
    private var skipLineFeed = false
    private var name: String?
    private var dataLines: [String] = []
    private var id: String?
    private var eventBytes = 0

    public init(maxEventBytes: Int = 1 << 20) {
        self.maxEventBytes = maxEventBytes
    }

    /// The events completed by `bytes`.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(Overflow) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if skipLineFeed {
                skipLineFeed = false
                if byte == 0x0A { continue }
            }
            if byte == 0x0A || byte == 0x0D {
                skipLineFeed = byte == 0x0D
                if let event = line(pending) { events.append(event) }
                pending.removeAll(keepingCapacity: true)
                continue
            }
            pending.append(byte)
            eventBytes += 1
            guard eventBytes <= maxEventBytes else { throw Overflow(limit: maxEventBytes) }
        }
        return events
    }

    /// Whether bytes of an unfinished event are waiting (a stream that ends here was cut).
    public var hasPartialEvent: Bool { !pending.isEmpty || !dataLines.isEmpty }

    private mutating func line(_ bytes: [UInt8]) -> Event? {
        guard !bytes.isEmpty else { return dispatch() }
        if bytes[0] == UInt8(ascii: ":") { return nil }
        let field: String
        var value: ArraySlice<UInt8>
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            field = String(decoding: bytes[..<colon], as: UTF8.self)
            value = bytes[(colon + 1)...]
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        } else {
            field = String(decoding: bytes, as: UTF8.self)
            value = []
        }
        switch field {
        case "event": name = String(decoding: value, as: UTF8.self)
        case "data": dataLines.append(String(decoding: value, as: UTF8.self))
        case "id" where !value.contains(0): id = String(decoding: value, as: UTF8.self)
        default: break  // `retry` and unknown fields are ignored, as the standard says.
        }
        return nil
    }

    private mutating func dispatch() -> Event? {
        defer {
            name = nil
            dataLines.removeAll()
            eventBytes = 0
        }
        guard !dataLines.isEmpty else { return nil }
        return Event(name: name.flatMap { $0.isEmpty ? nil : $0 } ?? "message", data: dataLines.joined(separator: "\n"), id: id)
    }
}
