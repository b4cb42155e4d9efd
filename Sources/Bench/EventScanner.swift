/// Splits a chat-completion stream's bytes into its events and reads each OpenAI chunk's
/// content length, without building strings or parsing JSON.
///
/// The load generator shares two cores with the simulator, the worker, the gateway and Redis,
/// and 200 streams at 50 tokens a second are 10,000 events a second: what it spends per event
/// is taken from what it measures. `Providers.ServerSentEvents` (a complete parser: CR line
/// ends, multi-line data, comments) copies every byte into an array and builds a `String` per
/// event; with it the load generator used 0.66 core at that rate, with this scanner 0.52 (most
/// of the rest is libcurl polling every socket). Both servers measured here end every event
/// with a blank line (`\n\n`) and put an OpenAI chunk on one `data:` line, which is all this
/// reads; the delta comes before the logprobs in both servers' chunks, so the first
/// `"content"` key is the delta's.
struct EventScanner {
    /// What one event was.
    enum Event: Equatable {
        /// A chunk whose first `"content"` is a string of this many characters (0 for the
        /// role chunk and the simulator's finish chunk).
        case content(Int)
        /// `data: [DONE]`.
        case done
        /// A `data: {"error": …}` chunk, its first bytes as text.
        case error(String)
        /// Anything else: a keep-alive comment, a chunk without content (tool calls, the
        /// gateway's finish chunk, usage).
        case other
    }

    /// The bytes of an event whose end has not arrived yet.
    private var pending: [UInt8] = []

    /// The events completed by `bytes`, in order.
    mutating func feed(_ bytes: [UInt8]) -> [Event] {
        var events: [Event] = []
        if pending.isEmpty {
            let consumed = bytes.withUnsafeBufferPointer { Self.scan($0, into: &events) }
            if consumed < bytes.count { pending = Array(bytes[consumed...]) }
        } else {
            pending += bytes
            let consumed = pending.withUnsafeBufferPointer { Self.scan($0, into: &events) }
            pending.removeFirst(consumed)
        }
        return events
    }

    /// Appends the complete events of `buffer` and returns how many bytes they took.
    private static func scan(_ buffer: UnsafeBufferPointer<UInt8>, into events: inout [Event]) -> Int {
        var start = 0
        var index = 0
        while index + 1 < buffer.count {
            if buffer[index] == 0x0A && buffer[index + 1] == 0x0A {
                events.append(classify(UnsafeBufferPointer(rebasing: buffer[start..<index])))
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        return start
    }

    private static let dataPrefix = Array("data:".utf8)
    private static let donePayload = Array("[DONE]".utf8)
    private static let errorPrefix = Array(#"{"error""#.utf8)
    private static let contentKey = Array(#""content":"#.utf8)

    /// What one event (without its closing blank line) is: its last `data:` line decides.
    static func classify(_ event: UnsafeBufferPointer<UInt8>) -> Event {
        var lineStart = 0
        var payload: UnsafeBufferPointer<UInt8>?
        for index in 0...event.count where index == event.count || event[index] == 0x0A {
            let line = UnsafeBufferPointer(rebasing: event[lineStart..<index])
            if has(line, prefix: dataPrefix) {
                var from = dataPrefix.count
                if from < line.count && line[from] == UInt8(ascii: " ") { from += 1 }
                payload = UnsafeBufferPointer(rebasing: line[from...])
            }
            lineStart = index + 1
        }
        guard let payload else { return .other }
        if payload.elementsEqual(donePayload) { return .done }
        if has(payload, prefix: errorPrefix) { return .error(String(decoding: payload.prefix(300), as: UTF8.self)) }
        return contentLength(payload).map { .content($0) } ?? .other
    }

    /// The length in characters of the first `"content"` string in `json`; nil when there is
    /// none or its value is not a string.
    static func contentLength(_ json: UnsafeBufferPointer<UInt8>) -> Int? {
        let key = contentKey
        guard json.count > key.count else { return nil }
        var found: Int?
        var start = 0
        while start + key.count <= json.count {
            if json[start] == key[0] && has(UnsafeBufferPointer(rebasing: json[start...]), prefix: key) {
                found = start + key.count
                break
            }
            start += 1
        }
        guard var index = found else { return nil }
        while index < json.count, json[index] == UInt8(ascii: " ") { index += 1 }
        guard index < json.count, json[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        var characters = 0
        while index < json.count {
            let byte = json[index]
            if byte == UInt8(ascii: "\"") { return characters }
            if byte == UInt8(ascii: "\\") {
                // An escape is one character; \uXXXX spends four more bytes.
                index += index + 1 < json.count && json[index + 1] == UInt8(ascii: "u") ? 6 : 2
                characters += 1
                continue
            }
            // Count UTF-8 leading bytes only: one per Unicode scalar.
            if byte & 0xC0 != 0x80 { characters += 1 }
            index += 1
        }
        return nil
    }

    private static func has(_ bytes: UnsafeBufferPointer<UInt8>, prefix: [UInt8]) -> Bool {
        guard bytes.count >= prefix.count else { return false }
        for offset in prefix.indices where bytes[offset] != prefix[offset] { return false }
        return true
    }
}
