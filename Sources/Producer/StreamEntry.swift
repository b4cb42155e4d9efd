import JobProtocol
import RedisClient

/// One entry of a streamed job's Redis stream (`KeySpace.stream`), as workers write it
/// (docs/PROTOCOL.md, "Streaming").
public struct StreamEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A worker began an attempt at the answer: the tier and model answering, and whether
        /// tokens come as they are made (`live`) or once accepted (`verified`).
        case start(tier: Int, model: String, mode: String)
        /// Released answer text and pieces of tool calls.
        case delta(text: String, toolCalls: [ToolCallPiece])
        /// The job's result: the stream's last entry.
        case end(JobResult)
        /// An entry this reader does not know (a newer worker's); skipped.
        case unknown
    }

    /// The entry's stream id (`<ms>-<seq>`), which `Last-Event-ID` resumes after.
    public var id: String
    public var kind: Kind

    public init(id: String, kind: Kind) {
        self.id = id
        self.kind = kind
    }

    /// Reads one `[id, [field, value, …]]` element of an XREAD or XRANGE reply; nil when it is
    /// not shaped like one.
    public static func parse(_ value: RedisValue) -> StreamEntry? {
        guard let pair = value.array, pair.count == 2, let id = pair[0].string, let flat = pair[1].array else { return nil }
        var fields: [String: RedisValue] = [:]
        var index = 0
        while index + 1 < flat.count {
            if let name = flat[index].string { fields[name] = flat[index + 1] }
            index += 2
        }
        switch fields["kind"]?.string {
        case "start":
            let tier = fields["tier"]?.integer ?? 0
            return StreamEntry(
                id: id, kind: .start(tier: tier, model: fields["model"]?.string ?? "", mode: fields["mode"]?.string ?? "verified"))
        case "delta":
            let pieces = fields["tool_calls"]?.bytes.map { ToolCallPiece.list(json: $0) } ?? []
            return StreamEntry(id: id, kind: .delta(text: fields["text"]?.string ?? "", toolCalls: pieces))
        case "end":
            guard let bytes = fields["result"]?.bytes, let result = try? JobResult.decode(bytes) else {
                let failure = JobResult.failure(id: "", code: "invalid_result", message: "the stream ended with a result that could not be read")
                return StreamEntry(id: id, kind: .end(failure))
            }
            return StreamEntry(id: id, kind: .end(result))
        default:
            return StreamEntry(id: id, kind: .unknown)
        }
    }

    /// Approximate cap on a stream's entries (`XADD … MAXLEN ~`): bounds what a runaway answer
    /// can store.
    public static let maxEntries = 20_000

    /// The XADD of one entry and the EXPIRE that renews the stream's TTL (every write renews
    /// it, so the stream outlives a long answer and expires after an abandoned one).
    ///
    /// `renewTTL: false` leaves the key's TTL as it is (a writer that renewed it within the
    /// last second need not send the EXPIRE again).
    public static func appendCommands(key: String, ttlSeconds: Int, fields: [(String, RedisArgument)], renewTTL: Bool = true) -> [RedisCommand] {
        var arguments: [RedisArgument] = [RedisArgument(key), "MAXLEN", "~", RedisArgument(maxEntries), "*"]
        for (name, value) in fields { arguments += [RedisArgument(name), value] }
        let append = RedisCommand("XADD", arguments: arguments)
        return renewTTL ? [append, RedisCommand("EXPIRE", RedisArgument(key), RedisArgument(ttlSeconds))] : [append]
    }

    /// The commands that end a stream with `result` (bytes of its JSON).
    public static func endCommands(key: String, ttlSeconds: Int, result: [UInt8]) -> [RedisCommand] {
        appendCommands(key: key, ttlSeconds: ttlSeconds, fields: [("kind", "end"), ("result", RedisArgument(bytes: result))])
    }

    /// Whether `id` is a stream entry id (`<ms>-<seq>`, or `0`), as `Last-Event-ID` must be.
    public static func isEntryID(_ id: String) -> Bool {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), id.utf8.count <= 41 else { return false }
        return parts.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } && UInt64($0) != nil }
    }
}
