import Foundation
import JobProtocol
import Logging
import RedisClient
import Synchronization

/// Reads the streams of every streamed job a process waits on, over a fixed few Redis
/// connections, however many streams are open.
///
/// Each reading connection runs one `XREAD BLOCK` over all the streams assigned to it, plus
/// a private wake-up stream: a new reader wakes its connection's blocked read with one XADD
/// there (at most one pending per connection), so it is read at once rather than after the
/// block times out. Readers resume after the last entry they got, so a dropped connection
/// loses nothing; a reader may start after any entry id (`Last-Event-ID`). Entries reach each
/// reader through its own `AsyncStream`, which ends after the `end` entry or `unsubscribe`.
public final class StreamHub: Sendable {
    private struct Reader {
        var after: EntryID
        var continuation: AsyncStream<StreamEntry>.Continuation
    }

    /// One reading connection's streams: each key with its readers by token.
    private struct Loop {
        var streams: [String: [Int: Reader]] = [:]
        var readerCount = 0
        /// A wake-up XADD is on its way to this connection's blocked read.
        var wakePending = false
    }

    private struct State {
        var loops: [Loop]
        /// Where each reader is: its connection and its stream's key.
        var places: [Int: (loop: Int, key: String)] = [:]
        var nextToken = 0
        var running = true
    }

    private let commands: RedisConnection
    private let keys: KeySpace
    private let logger: Logger
    private let readers: [RedisConnection]
    private let wakeKeys: [String]
    private let state: Mutex<State>
    /// How long one XREAD blocks; a connection that sees nothing in this time reads again.
    static let block = 1000
    /// Entries taken per stream per read.
    static let count = 256

    /// - Parameter connections: reading connections (each with a thread of its own); the
    ///   commands connection only sends the wake-ups.
    public init(commands: RedisConnection, keys: KeySpace, connections: Int = 2, logger: Logger) {
        let count = max(1, connections)
        self.commands = commands
        self.keys = keys
        self.logger = logger
        var configuration = commands.configuration
        configuration.readTimeout = .milliseconds(Self.block) + .seconds(10)
        let instance = UUID().uuidString.lowercased()
        self.readers = (0..<count).map { _ in RedisConnection(configuration: configuration, name: "gateway-streams@\(keys.prefix)", logger: logger) }
        self.wakeKeys = (0..<count).map { "\(keys.prefix):streamwake:\(instance):\($0)" }
        self.state = Mutex(State(loops: Array(repeating: Loop(), count: count)))
    }

    /// The Redis connections this hub reads with (constant, whatever the number of streams).
    public var connectionCount: Int { readers.count }

    /// Streams being read.
    public var open: Int { state.withLock { $0.places.count } }

    /// Starts reading a job's stream after entry `after` (`0`: from its first entry).
    public func subscribe(jobID: String, after: String = "0") -> (token: Int, entries: AsyncStream<StreamEntry>) {
        let (entries, continuation) = AsyncStream.makeStream(of: StreamEntry.self)
        let start = EntryID(after) ?? EntryID(milliseconds: 0, sequence: 0)
        let key = keys.stream(jobID)
        let (token, loop, wake): (Int, Int, Bool) = state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            let loop = state.loops.indices.min { state.loops[$0].readerCount < state.loops[$1].readerCount } ?? 0
            guard state.running else {
                continuation.finish()
                return (token, loop, false)
            }
            state.loops[loop].readerCount += 1
            state.loops[loop].streams[key, default: [:]][token] = Reader(after: start, continuation: continuation)
            state.places[token] = (loop, key)
            let wake = !state.loops[loop].wakePending
            state.loops[loop].wakePending = true
            return (token, loop, wake)
        }
        if wake {
            let key = RedisArgument(wakeKeys[loop])
            Task {
                _ = try? await commands.pipeline([
                    RedisCommand("XADD", key, "MAXLEN", "~", 16, "*", "w", "1"), RedisCommand("EXPIRE", key, 3600),
                ])
            }
        }
        return (token, entries)
    }

    /// Stops a reader; its entries end.
    public func unsubscribe(_ token: Int) {
        let reader: Reader? = state.withLock { state in
            guard let place = state.places.removeValue(forKey: token) else { return nil }
            state.loops[place.loop].readerCount -= 1
            guard var readers = state.loops[place.loop].streams.removeValue(forKey: place.key) else { return nil }
            let reader = readers.removeValue(forKey: token)
            if !readers.isEmpty { state.loops[place.loop].streams[place.key] = readers }
            return reader
        }
        reader?.continuation.finish()
    }

    /// Runs the reading loops until `stop()` or the task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for loop in readers.indices {
                group.addTask { await self.readLoop(loop) }
            }
        }
    }

    public func stop() {
        let readers: [Reader] = state.withLock { state in
            state.running = false
            defer {
                state.places.removeAll()
                for loop in state.loops.indices { state.loops[loop] = Loop() }
            }
            return state.loops.flatMap { $0.streams.values.flatMap(\.values) }
        }
        for reader in readers { reader.continuation.finish() }
        for connection in self.readers { connection.close() }
        let wakeKeys = wakeKeys.map { RedisArgument($0) }
        let commands = commands
        Task { _ = try? await commands.send(RedisCommand("DEL", arguments: wakeKeys)) }
    }

    private func readLoop(_ loop: Int) async {
        let connection = readers[loop]
        let wakeKey = wakeKeys[loop]
        // The wake-up stream is this instance's own, so every entry in it is a wake-up.
        var wakeAfter = EntryID(milliseconds: 0, sequence: 0)
        var failures = 0
        while state.withLock({ $0.running }) && !Task.isCancelled {
            // The streams of this connection, each from the earliest entry one of its readers lacks.
            let streams: [(key: String, after: EntryID)] = state.withLock { state in
                state.loops[loop].wakePending = false
                return state.loops[loop].streams.compactMap { key, readers in
                    readers.values.lazy.map(\.after).min().map { (key, $0) }
                }
            }
            var arguments: [RedisArgument] = ["COUNT", RedisArgument(Self.count), "BLOCK", RedisArgument(Self.block), "STREAMS"]
            arguments.reserveCapacity(arguments.count + 2 * streams.count + 2)
            arguments += streams.map { RedisArgument($0.key) } + [RedisArgument(wakeKey)]
            arguments += streams.map { RedisArgument($0.after.description) } + [RedisArgument(wakeAfter.description)]
            let reply: RedisValue
            do {
                reply = try await connection.send(RedisCommand("XREAD", arguments: arguments))
                failures = 0
            } catch {
                guard state.withLock({ $0.running }), !Task.isCancelled else { return }
                failures += 1
                if failures == 1 || failures % 50 == 0 {
                    logger.warning("cannot read job streams; retrying", metadata: ["cervella.error": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(min(1000, 50 * failures)))
                continue
            }
            for element in reply.array ?? [] {
                guard let pair = element.array, pair.count == 2, let key = pair[0].string, let list = pair[1].array else { continue }
                if key == wakeKey {
                    if let last = list.last?.array?.first?.string.flatMap(EntryID.init) { wakeAfter = last }
                    continue
                }
                deliver(list.compactMap(StreamEntry.parse), key: key, loop: loop)
            }
        }
    }

    /// Hands entries to every reader of `key` that lacks them; a reader that got its `end` is done.
    ///
    /// Only the readers of `key` are visited (the hub may hold thousands of streams), and
    /// their table is taken out of the state while it changes, so nothing is copied.
    private func deliver(_ entries: [StreamEntry], key: String, loop: Int) {
        guard !entries.isEmpty else { return }
        let ids = entries.map { EntryID($0.id) }
        let finished: [AsyncStream<StreamEntry>.Continuation] = state.withLock { state in
            guard var readers = state.loops[loop].streams.removeValue(forKey: key) else { return [] }
            var finished: [AsyncStream<StreamEntry>.Continuation] = []
            for token in Array(readers.keys) {
                guard var reader = readers[token] else { continue }
                var ended = false
                for (entry, id) in zip(entries, ids) {
                    guard let id, id > reader.after else { continue }
                    reader.after = id
                    reader.continuation.yield(entry)
                    if case .end = entry.kind {
                        ended = true
                        break
                    }
                }
                if ended {
                    finished.append(reader.continuation)
                    readers[token] = nil
                    state.places[token] = nil
                    state.loops[loop].readerCount -= 1
                } else {
                    readers[token] = reader
                }
            }
            if !readers.isEmpty { state.loops[loop].streams[key] = readers }
            return finished
        }
        for continuation in finished { continuation.finish() }
    }
}

/// A stream entry id, `<milliseconds>-<sequence>`, ordered as Redis orders them.
struct EntryID: Comparable, CustomStringConvertible, Sendable {
    var milliseconds: UInt64
    var sequence: UInt64

    init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let ms = UInt64(parts[0]) else { return nil }
        milliseconds = ms
        if parts.count == 2 {
            guard let seq = UInt64(parts[1]) else { return nil }
            sequence = seq
        } else {
            sequence = 0
        }
    }

    var description: String { "\(milliseconds)-\(sequence)" }

    static func < (a: EntryID, b: EntryID) -> Bool { (a.milliseconds, a.sequence) < (b.milliseconds, b.sequence) }
}
