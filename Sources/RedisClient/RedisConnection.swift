import Foundation
import Logging
import Synchronization

/// One Redis connection served by a thread the connection owns.
///
/// hiredis is blocking, and Swift's cooperative pool has only as many threads as cores (two
/// here), so a blocked pop there would stall unrelated tasks. Each connection therefore runs
/// its commands on its own thread. Requests that arrive while the thread is busy are sent
/// together as one pipeline on its next turn (automatic pipelining): many concurrent callers
/// share one round trip instead of paying one each.
///
/// After a dropped connection the next request reconnects, waiting a backoff that doubles up
/// to `maxReconnectDelay`, and replays AUTH and SELECT. A command in flight when the
/// connection dropped fails with `.connectionLost`: it may or may not have run, so it is
/// never replayed silently.
public final class RedisConnection: @unchecked Sendable {
    public let configuration: RedisConfiguration
    private let name: String
    private let logger: Logger

    private struct Request {
        var commands: [RedisCommand]
        var continuation: CheckedContinuation<[RedisValue], any Error>
    }

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [Request] = []
    private var closed = false

    // Touched only by the connection's thread.
    private var context: HiredisContext?
    private var reconnectDelay: Duration
    private var lastFailure: ContinuousClock.Instant?

    /// Counts this connection's commands and round trips (shared when several connections
    /// were given the same counter).
    public let traffic: RedisTraffic

    /// A write to a socket the server closed raises SIGPIPE, whose default action kills the
    /// process; the error must come back as a failed write instead.
    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    public init(configuration: RedisConfiguration, name: String = "cervella", logger: Logger = Logger(label: "cervella.redis"), traffic: RedisTraffic = RedisTraffic()) {
        Self.ignoreSIGPIPE
        self.traffic = traffic
        self.configuration = configuration
        self.name = name
        self.logger = logger
        self.reconnectDelay = configuration.reconnectDelay
        let thread = Thread { [self] in self.runLoop() }
        thread.name = "redis-\(name)"
        thread.start()
    }

    /// Stops the thread after the commands already queued; later calls fail with `.shutdown`.
    public func close() {
        condition.lock()
        closed = true
        condition.signal()
        condition.unlock()
    }

    /// Sends the commands in one round trip and returns one reply each; error replies are
    /// returned as `.error` values, not thrown.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        if commands.isEmpty { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            if closed {
                condition.unlock()
                continuation.resume(throwing: RedisError(.shutdown, "the Redis connection '\(name)' is closed"))
                return
            }
            pending.append(Request(commands: commands, continuation: continuation))
            condition.signal()
            condition.unlock()
        }
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
    public func transaction(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        let replies = try await pipeline([RedisCommand("MULTI")] + commands + [RedisCommand("EXEC")])
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

    // MARK: - The connection's thread

    private func runLoop() {
        while true {
            condition.lock()
            while pending.isEmpty && !closed { condition.wait() }
            if pending.isEmpty && closed {
                condition.unlock()
                break
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            condition.unlock()
            process(batch)
        }
        context = nil
    }

    private func process(_ batch: [Request]) {
        let connection: HiredisContext
        do {
            connection = try connectedContext()
        } catch {
            for request in batch { request.continuation.resume(throwing: error) }
            return
        }
        var next = 0
        do {
            var count = 0
            for request in batch {
                for command in request.commands { try connection.append(command) }
                count += request.commands.count
            }
            traffic.record(commands: count)
            while next < batch.count {
                var replies: [RedisValue] = []
                replies.reserveCapacity(batch[next].commands.count)
                for _ in batch[next].commands { replies.append(try connection.readReply()) }
                batch[next].continuation.resume(returning: replies)
                next += 1
            }
        } catch {
            context = nil
            lastFailure = .now
            logger.warning("redis connection dropped", metadata: ["cervella.redis.connection": "\(name)", "cervella.error": "\(error)"])
            for request in batch[next...] { request.continuation.resume(throwing: error) }
        }
    }

    /// Returns the live context, reconnecting (after the backoff) when there is none.
    private func connectedContext() throws -> HiredisContext {
        if let context, !context.isBroken { return context }
        context = nil
        if let lastFailure {
            let wakeUp = lastFailure + reconnectDelay
            let now = ContinuousClock.now
            if wakeUp > now { Thread.sleep(forTimeInterval: Self.seconds(wakeUp - now)) }
        }
        do {
            let fresh = try HiredisContext.connect(
                host: configuration.host, port: configuration.port,
                connectTimeout: configuration.connectTimeout, readTimeout: configuration.readTimeout
            )
            try handshake(fresh)
            if lastFailure != nil {
                logger.info("redis connection restored", metadata: ["cervella.redis.connection": "\(name)"])
            }
            context = fresh
            lastFailure = nil
            reconnectDelay = configuration.reconnectDelay
            return fresh
        } catch {
            lastFailure = .now
            reconnectDelay = min(reconnectDelay * 2, configuration.maxReconnectDelay)
            throw error
        }
    }

    private func handshake(_ fresh: HiredisContext) throws {
        var commands: [RedisCommand] = []
        if let password = configuration.password {
            if let username = configuration.username {
                commands.append(RedisCommand("AUTH", RedisArgument(username), RedisArgument(password)))
            } else {
                commands.append(RedisCommand("AUTH", RedisArgument(password)))
            }
        }
        if configuration.database != 0 {
            commands.append(RedisCommand("SELECT", RedisArgument(configuration.database)))
        }
        commands.append(RedisCommand("CLIENT", "SETNAME", RedisArgument(Self.clientName(name))))
        for command in commands { try fresh.append(command) }
        for command in commands {
            if case .error(let message) = try fresh.readReply() {
                let code: RedisError.Code = command.description == "CLIENT" ? .serverError : .authenticationFailed
                throw RedisError(code, "\(command) refused by \(configuration.host):\(configuration.port): \(message); check the user, password and database in the Redis URL")
            }
        }
    }

    /// CLIENT SETNAME refuses spaces and newlines.
    private static func clientName(_ name: String) -> String {
        String(name.map { $0.isWhitespace ? "-" : $0 })
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}

/// Commands written and round trips made (pipelines flushed): what a process costs Redis,
/// as `cervella bench` and a worker's heartbeat report it.
public final class RedisTraffic: Sendable {
    private let commandCount = Atomic<Int>(0)
    private let roundTripCount = Atomic<Int>(0)

    public init() {}

    func record(commands: Int) {
        commandCount.add(commands, ordering: .relaxed)
        roundTripCount.add(1, ordering: .relaxed)
    }

    public var commands: Int { commandCount.load(ordering: .relaxed) }
    public var roundTrips: Int { roundTripCount.load(ordering: .relaxed) }
}
