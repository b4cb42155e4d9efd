import Foundation
import Logging
import Synchronization

/// One Redis connection, served by a thread the connection owns.
///
/// hiredis is blocking, and Swift's cooperative pool has only as many threads as cores (two
/// here), so a blocked pop there would stall unrelated tasks. Each connection therefore runs
/// its commands on its own thread (`RedisConnectionLoop`), and callers hand requests over
/// through a `RedisInbox`. Requests that arrive while the thread is busy are sent together as
/// one pipeline on its next turn (automatic pipelining): many concurrent callers share one
/// round trip instead of paying one each. A caller that finds the connection idle writes its
/// request to the socket itself, so the thread wakes once, for the reply, not twice.
///
/// After a dropped connection the next request reconnects, waiting a backoff that doubles up
/// to `maxReconnectDelay`, and replays AUTH, SELECT and CLIENT SETNAME. A command in flight
/// when the connection dropped fails with `.connectionLost`: it may or may not have run, so it
/// is never replayed silently.
public final class RedisConnection: Sendable {
    public let configuration: RedisConfiguration
    /// Counts this connection's commands and round trips (shared when several connections
    /// were given the same counter).
    public let traffic: RedisTraffic
    private let shortfallLog = LogThrottle(interval: .seconds(10))
    private let name: String
    private let inbox: RedisInbox
    private let logger: Logger

    public init(
        configuration: RedisConfiguration, name: String = "cervella", logger: Logger = Logger(label: "cervella.redis"),
        traffic: RedisTraffic = RedisTraffic()
    ) {
        BrokenPipes.ignore()
        let inbox = RedisInbox()
        self.configuration = configuration
        self.traffic = traffic
        self.name = name
        self.inbox = inbox
        self.logger = logger
        // The loop is created on its thread and never leaves it.
        let thread = Thread {
            RedisConnectionLoop(configuration: configuration, name: name, logger: logger, inbox: inbox, traffic: traffic).run()
        }
        // Linux keeps a thread name only up to 15 bytes; a longer one is dropped, and `perf` and
        // `top` then show the thread under its process name.
        thread.name = "redis-conn"
        thread.start()
    }

    /// A connection nobody can reach any more lets its thread finish what is queued and exit.
    deinit { inbox.close() }

    /// Stops the thread after the commands already queued; later calls fail with `.shutdown`.
    public func close() {
        inbox.close()
    }

    /// Sends the commands in one round trip and returns one reply each; error replies are
    /// returned as `.error` values, not thrown.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        if commands.isEmpty { return [] }
        // `*0` is read by Redis as no command at all: it never answers, and every later reply
        // on the connection would be taken for this one's.
        if commands.contains(where: \.arguments.isEmpty) {
            throw RedisError(.invalidCommand, "a command without a name cannot be sent")
        }
        // Encoded here, on the caller's thread, so the connection's thread only writes.
        var payload: [UInt8] = []
        for command in commands { command.encode(into: &payload) }
        return try await withCheckedThrowingContinuation { continuation in
            let request = RedisInbox.Request(payload: payload, commandCount: commands.count, continuation: continuation)
            if !inbox.submit(request, traffic: traffic) {
                continuation.resume(throwing: RedisError(.shutdown, "the Redis connection '\(name)' is closed"))
            }
        }
    }

    /// Sends the commands, then, when `replicated` and the configuration asks for replica
    /// acknowledgements, Redis' `WAIT` in the same round trip: the replies arrive once that
    /// many replicas hold the writes, or after `replicaAckTimeout`. Used for the writes the pool
    /// acknowledges (an enqueued job, a committed result), so that a Sentinel failover, which
    /// promotes a replica, does not lose them. A write that no replica acknowledged in time
    /// stands on the primary alone: it is counted, and logged at most every 10 s.
    public func pipeline(_ commands: [RedisCommand], replicated: Bool) async throws -> [RedisValue] {
        let acks = configuration.replicaAcks
        guard replicated, acks > 0, !commands.isEmpty else { return try await pipeline(commands) }
        let timeout = configuration.replicaAckTimeout.components
        let milliseconds = max(1, Int(timeout.seconds) * 1000 + Int(timeout.attoseconds / 1_000_000_000_000_000))
        var replies = try await pipeline(commands + [RedisCommand("WAIT", RedisArgument(acks), RedisArgument(milliseconds))])
        let acknowledged = replies.removeLast().integer ?? 0
        if acknowledged < acks {
            let count = traffic.recordShortfall()
            if count == 1 || shortfallLog.due() {
                logger.warning(
                    "a write reached fewer Redis replicas than replica_acks within replica_ack_timeout_ms; a failover now could lose it",
                    metadata: [
                        "cervella.redis.connection": "\(name)", "cervella.replicas": "\(acknowledged)", "cervella.replica_acks": "\(acks)",
                        "cervella.shortfalls": "\(count)",
                    ])
            }
        }
        return replies
    }

    /// Sends one command; an error reply is thrown as `.serverError`.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RedisValue {
        let reply = try await pipeline([command])[0]
        if case .error(let message) = reply {
            throw RedisError(.serverError, "\(command) failed: \(message)")
        }
        return reply
    }

    @discardableResult
    public func send(_ name: String, _ arguments: RedisArgument...) async throws -> RedisValue {
        try await send(RedisCommand(name, arguments: arguments))
    }

    /// Runs the commands inside MULTI/EXEC in one round trip and returns EXEC's replies.
    ///
    /// Throws `.transactionFailed` when Redis refused to queue a command (EXECABORT) or a
    /// WATCHed key changed; a command that fails at run time yields an `.error` element, as
    /// in Redis itself (the others still ran).
    public func transaction(_ commands: [RedisCommand], replicated: Bool = false) async throws -> [RedisValue] {
        let replies = try await pipeline([RedisCommand("MULTI")] + commands + [RedisCommand("EXEC")], replicated: replicated)
        for (index, queued) in replies.dropFirst().dropLast().enumerated() {
            if case .error(let message) = queued {
                throw RedisError(.transactionFailed, "\(commands[index]) was rejected inside MULTI: \(message)")
            }
        }
        switch replies.last {
        case .array(let results)?: return results
        case .error(let message)?: throw RedisError(.transactionFailed, "EXEC failed: \(message)")
        default: throw RedisError(.transactionFailed, "EXEC was aborted because a WATCHed key changed")
        }
    }
}

/// Lets a message through at most once per interval.
final class LogThrottle: Sendable {
    private let interval: Duration
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(interval: Duration) { self.interval = interval }

    func due() -> Bool {
        last.withLock { last in
            let now = ContinuousClock.now
            if let previous = last, now - previous < interval { return false }
            last = now
            return true
        }
    }
}

/// A write to a socket the server closed raises SIGPIPE, whose default action kills the
/// process; the error must come back as a failed write instead (hiredis writes with write(2),
/// which cannot be told MSG_NOSIGNAL).
enum BrokenPipes {
    private static let ignored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    static func ignore() { ignored }
}
