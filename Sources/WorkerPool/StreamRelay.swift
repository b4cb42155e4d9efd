import JobProtocol
import Producer
import Providers
import RedisClient
import Synchronization

/// Writes a streamed job's answer to its Redis stream (`KeySpace.stream`) as it comes.
///
/// The entries (docs/PROTOCOL.md, "Streaming"): `start` when a worker begins an attempt (its
/// tier, model and mode), `delta` with released text and tool-call pieces, and `end` with the
/// result, which the commit writes in the same atomic step as the reply (`JobCommit`), so a
/// stream ends exactly once. Deltas are not batched here: while one XADD is in flight the
/// provider's next chunks pile up in its `BodyStream` and come as one delta, so the entries
/// per second fall as the load rises. Each write renews the key's TTL, which therefore
/// outlives a long answer and expires after an abandoned one.
final class StreamRelay: Sendable {
    let connection: RedisConnection
    let key: String
    let ttlSeconds: Int
    private let releasedBox = Mutex(false)

    init(connection: RedisConnection, key: String, ttlSeconds: Int) {
        self.connection = connection
        self.key = key
        self.ttlSeconds = ttlSeconds
    }

    /// Whether any answer text or tool call has been written for the client.
    var released: Bool { releasedBox.withLock { $0 } }

    func start(tier: Tier, model: String, mode: String) async {
        await write([("kind", "start"), ("tier", RedisArgument(tier.number)), ("model", RedisArgument(model)), ("mode", RedisArgument(mode))])
    }

    /// Writes a delta's text and tool-call pieces; a delta with neither writes nothing.
    func send(_ delta: StreamDelta) async {
        guard !delta.text.isEmpty || !delta.toolCalls.isEmpty else { return }
        var fields: [(String, RedisArgument)] = [("kind", "delta")]
        if !delta.text.isEmpty { fields.append(("text", RedisArgument(delta.text))) }
        if !delta.toolCalls.isEmpty { fields.append(("tool_calls", RedisArgument(bytes: ToolCallPiece.json(delta.toolCalls)))) }
        releasedBox.withLock { $0 = true }
        await write(fields)
    }

    /// A failed write is not retried: the client then misses a piece, but the `end` entry
    /// carries the whole result, and the gateway sends what it lacks.
    private func write(_ fields: [(String, RedisArgument)]) async {
        _ = try? await connection.pipeline(StreamEntry.appendCommands(key: key, ttlSeconds: ttlSeconds, fields: fields))
    }
}
