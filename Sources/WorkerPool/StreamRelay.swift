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
    /// The `start` entry's write, which runs beside the provider call's opening: the first
    /// delta (and the end of the call) waits for it, so entries keep their order.
    private let startWrite = Mutex<Task<Void, Never>?>(nil)
    /// When the key's TTL was last renewed: a stream's writes renew it at most once a
    /// second, which spares Redis an EXPIRE per token and still keeps a long answer's key.
    private let renewedAt = Mutex<ContinuousClock.Instant?>(nil)

    init(connection: RedisConnection, key: String, ttlSeconds: Int) {
        self.connection = connection
        self.key = key
        self.ttlSeconds = ttlSeconds
    }

    /// Whether any answer text or tool call has been written for the client.
    var released: Bool { releasedBox.withLock { $0 } }

    /// Begins writing the `start` entry and returns at once; `settle()` or the first delta
    /// waits for it.
    func start(tier: Tier, model: String, mode: String) {
        let fields: [(String, RedisArgument)] = [
            ("kind", "start"), ("tier", RedisArgument(tier.number)), ("model", RedisArgument(model)), ("mode", RedisArgument(mode)),
        ]
        let task = Task { await self.write(fields) }
        startWrite.withLock { $0 = task }
    }

    /// Waits until the `start` entry is written (before anything else goes to the stream).
    func settle() async {
        if let task = startWrite.withLock({ $0 }) { await task.value }
    }

    /// Writes a delta's text and tool-call pieces; a delta with neither writes nothing.
    func send(_ delta: StreamDelta) async {
        guard !delta.text.isEmpty || !delta.toolCalls.isEmpty else { return }
        var fields: [(String, RedisArgument)] = [("kind", "delta")]
        if !delta.text.isEmpty { fields.append(("text", RedisArgument(delta.text))) }
        if !delta.toolCalls.isEmpty { fields.append(("tool_calls", RedisArgument(bytes: ToolCallPiece.json(delta.toolCalls)))) }
        releasedBox.withLock { $0 = true }
        await settle()
        await write(fields)
    }

    /// A failed write is not retried: the client then misses a piece, but the `end` entry
    /// carries the whole result, and the gateway sends what it lacks.
    private func write(_ fields: [(String, RedisArgument)]) async {
        let now = ContinuousClock.now
        let renew = renewedAt.withLock { last in
            guard last.map({ $0.duration(to: now) >= .seconds(1) }) ?? true else { return false }
            last = now
            return true
        }
        _ = try? await connection.pipeline(StreamEntry.appendCommands(key: key, ttlSeconds: ttlSeconds, fields: fields, renewTTL: renew))
    }
}
