import Foundation
import Glibc
import Logging

/// The body of a connection's thread: it owns the hiredis context and the reconnect state.
///
/// Each turn takes the inbox's batch: first the request a caller wrote itself while the loop
/// was parked (its reply comes first), then the queued ones, which are written together as
/// one pipeline (automatic pipelining). With nothing left, the loop parks in `poll` on the
/// socket and the inbox's wake-up pipe, bounded by the read timeout of a request a caller
/// wrote.
///
/// After a dropped connection the next request reconnects, waiting a backoff that doubles up
/// to `maxReconnectDelay`, and replays AUTH, SELECT and CLIENT SETNAME. A request in flight
/// when the connection dropped fails with `.connectionLost`: it may or may not have run, so
/// it is never replayed silently.
final class RedisConnectionLoop {
    private let configuration: RedisConfiguration
    private let name: String
    private let logger: Logger
    private let inbox: RedisInbox
    private let traffic: RedisTraffic

    private var context: HiredisContext?
    /// Behind Sentinel: the failovers heard of, and how many had been when `context` was made.
    private let watch: SentinelWatch?
    private var contextGeneration = 0
    private var reconnectDelay: Duration
    private var lastFailure: ContinuousClock.Instant?

    init(configuration: RedisConfiguration, name: String, logger: Logger, inbox: RedisInbox, traffic: RedisTraffic) {
        self.configuration = configuration
        self.name = name
        self.logger = logger
        self.inbox = inbox
        self.traffic = traffic
        self.reconnectDelay = configuration.reconnectDelay
        self.watch = SentinelWatch.shared(for: configuration, listener: inbox)
    }

    /// What ended a wait in `poll`.
    private struct Wake {
        var socketReadable = false
        var timedOut = false
    }

    /// Runs until the inbox is closed and everything queued before has been answered.
    func run() {
        var wake = Wake()
        while true {
            let turn = inbox.take()
            if let written = turn.written {
                finishWritten(written, timedOut: wake.timedOut)
            } else if wake.socketReadable {
                dropIfUnsolicited()
            }
            if !turn.pending.isEmpty {
                process(turn.pending)
            }
            if turn.written == nil && turn.pending.isEmpty && turn.closed { break }
            wake = Wake()
            dropIfPrimarySwitched()
            let socket = context.flatMap { $0.isBroken ? nil : $0.fileDescriptor }
            guard inbox.park(socket: socket) else { continue }
            wake = waitForWork(socket: socket)
        }
        context = nil
    }

    /// Behind Sentinel: a connection made before the last failover is dropped before the loop
    /// parks, so that no caller writes to the old primary's socket.
    private func dropIfPrimarySwitched() {
        guard let watch, context != nil, watch.generation != contextGeneration else { return }
        context = nil
        logger.info("redis primary switched by Sentinel; reconnecting on the next request", metadata: ["cervella.redis.connection": "\(name)"])
    }

    // MARK: - Parked

    /// Sleeps until the socket is readable (a reply, or the server closing it), a caller
    /// wakes the loop, or the request a caller wrote has waited the read timeout.
    private func waitForWork(socket: Int32?) -> Wake {
        var descriptors = [
            pollfd(fd: inbox.wakeReader, events: Int16(POLLIN), revents: 0),
            pollfd(fd: socket ?? -1, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            var timeout: Int32 = -1
            if socket != nil, let limit = Self.positive(configuration.readTimeout) {
                let due = (inbox.writtenAt ?? .now) + limit
                timeout = Self.milliseconds(due - .now)
            }
            if inbox.wakeReader < 0 { timeout = timeout < 0 ? 1 : min(timeout, 1) }
            let ready = poll(&descriptors, 2, timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                // Not expected with valid descriptors; take a turn rather than spin.
                return Wake()
            }
            if descriptors[0].revents != 0 { inbox.drainWakeUps() }
            var wake = Wake(socketReadable: descriptors[1].revents != 0)
            if ready > 0 { return wake }
            // Timed out: the request a caller wrote has waited its full read timeout, or the
            // poll began before that write and must wait the rest.
            if socket != nil, let limit = Self.positive(configuration.readTimeout), let writtenAt = inbox.writtenAt, writtenAt + limit <= .now {
                wake.timedOut = true
                return wake
            }
            if inbox.wakeReader < 0 { return wake }
        }
    }

    /// The socket became readable with nothing in flight: the server closed the connection
    /// (or sent something unasked). The connection is dropped now, so that the next request
    /// reconnects instead of failing on a dead socket.
    private func dropIfUnsolicited() {
        guard let connection = context, !connection.isBroken else { return }
        var byte: UInt8 = 0
        let peeked = recv(connection.fileDescriptor, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        if peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
        let reason =
            peeked == 0 ? "the server closed the connection" : peeked < 0 ? String(cString: strerror(errno)) : "unexpected data from the server"
        dropConnection(RedisError(.connectionLost, "connection to Redis lost: \(reason)"))
    }

    // MARK: - Serving requests

    /// Reads the replies of the request a caller wrote itself, after writing any part of it
    /// the socket did not take.
    private func finishWritten(_ request: RedisInbox.Request, timedOut: Bool) {
        guard let connection = context, !connection.isBroken, !timedOut else {
            let error =
                timedOut
                ? RedisError(.connectionLost, "read timed out waiting for Redis (no reply within \(configuration.readTimeout))")
                : RedisError(.connectionLost, "connection to Redis lost before the reply arrived")
            dropConnection(error)
            request.continuation.resume(throwing: error)
            return
        }
        do {
            if request.sent < request.payload.count {
                try connection.append(encoded: request.payload[request.sent...])
            }
        } catch {
            dropConnection(error)
            request.continuation.resume(throwing: error)
            return
        }
        deliverReplies(CollectionOfOne(request), from: connection)
    }

    /// Writes queued requests as one pipeline and hands each caller its replies.
    private func process(_ batch: [RedisInbox.Request]) {
        let connection: HiredisContext
        do {
            connection = try connectedContext()
        } catch {
            for request in batch { request.continuation.resume(throwing: error) }
            return
        }
        var commands = 0
        do {
            for request in batch {
                try connection.append(encoded: request.payload[...])
                commands += request.commandCount
            }
        } catch {
            dropConnection(error)
            for request in batch { request.continuation.resume(throwing: error) }
            return
        }
        traffic.record(commands: commands)
        deliverReplies(batch, from: connection)
    }

    /// Reads one reply per command, in order, resuming each caller as soon as its replies
    /// are in; on a failure every caller not yet answered gets the error.
    private func deliverReplies(_ requests: some Collection<RedisInbox.Request>, from connection: HiredisContext) {
        var answered = 0
        var demoted = false
        do {
            for request in requests {
                var replies: [RedisValue] = []
                replies.reserveCapacity(request.commandCount)
                for _ in 0..<request.commandCount {
                    let reply = try connection.readReply()
                    if case .error = reply, Self.meansNotPrimary(reply) { demoted = true }
                    replies.append(reply)
                }
                request.continuation.resume(returning: replies)
                answered += 1
            }
        } catch {
            dropConnection(error)
            for request in requests.dropFirst(answered) { request.continuation.resume(throwing: error) }
            return
        }
        if demoted { dropConnection(RedisError(.connectionLost, "the server is no longer the primary (READONLY); reconnecting")) }
    }

    private func dropConnection(_ error: any Error) {
        context = nil
        lastFailure = .now
        logger.warning("redis connection dropped", metadata: ["cervella.redis.connection": "\(name)", "cervella.error": "\(error)"])
    }

    // MARK: - Connecting

    /// Returns the live context, reconnecting (after the backoff) when there is none.
    private func connectedContext() throws -> HiredisContext {
        dropIfPrimarySwitched()
        if let context, !context.isBroken { return context }
        context = nil
        let generation = watch?.generation ?? 0
        if let lastFailure {
            let wakeUp = lastFailure + reconnectDelay
            let now = ContinuousClock.now
            if wakeUp > now { Thread.sleep(forTimeInterval: Self.seconds(wakeUp - now)) }
        }
        do {
            let (fresh, address) = try PrimaryLocator.connect(configuration, readTimeout: configuration.readTimeout)
            try handshake(fresh, address: address)
            if lastFailure != nil {
                logger.info("redis connection restored", metadata: ["cervella.redis.connection": "\(name)", "cervella.redis.server": "\(address)"])
            }
            context = fresh
            contextGeneration = generation
            lastFailure = nil
            reconnectDelay = configuration.reconnectDelay
            return fresh
        } catch {
            lastFailure = .now
            reconnectDelay = min(reconnectDelay * 2, configuration.maxReconnectDelay)
            throw error
        }
    }

    /// AUTH, SELECT and CLIENT SETNAME, replayed on every new connection; behind Sentinel,
    /// also ROLE, so that a server that is no longer the primary is never used.
    private func handshake(_ fresh: HiredisContext, address: RedisConfiguration.Address) throws {
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
        if !configuration.sentinels.isEmpty { commands.append(RedisCommand("ROLE")) }
        for command in commands { try fresh.append(encoded: command.encoded[...]) }
        for command in commands {
            let reply = try fresh.readReply()
            if case .error(let message) = reply {
                let code: RedisError.Code = command.description == "AUTH" || command.description == "SELECT" ? .authenticationFailed : .serverError
                throw RedisError(
                    code, "\(command) refused by \(address): \(message); check the user, password and database in the Redis URL")
            }
            if command.description == "ROLE" { try Self.checkPrimary(reply, address: address) }
        }
    }

    /// Throws unless a ROLE reply says `master`: during a failover a Sentinel may still name
    /// the old primary, which may come back as a replica.
    static func checkPrimary(_ role: RedisValue, address: RedisConfiguration.Address) throws(RedisError) {
        let name = role.array?.first?.string ?? "unknown"
        guard name == "master" else {
            throw RedisError(.connectionFailed, "\(address) is not the primary (its role is \(name)); waiting for Sentinel to name the new one")
        }
    }

    /// Error replies after which the connection is dropped, so that the next request asks
    /// Sentinel again: the server was turned into a replica (`READONLY` for a write,
    /// `UNBLOCKED` for a blocked pop it released when that happened).
    static func meansNotPrimary(_ reply: RedisValue) -> Bool {
        guard case .error(let message) = reply else { return false }
        return message.hasPrefix("READONLY") || message.hasPrefix("UNBLOCKED")
    }

    /// CLIENT SETNAME refuses spaces and newlines.
    private static func clientName(_ name: String) -> String {
        String(name.map { $0.isWhitespace ? "-" : $0 })
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    /// The duration if positive; a zero read timeout means "wait for ever", as in hiredis.
    private static func positive(_ duration: Duration) -> Duration? {
        duration > .zero ? duration : nil
    }

    /// `poll`'s timeout: whole milliseconds rounded up (so the loop never wakes just before
    /// a deadline and spins), at least 0, at most a day.
    private static func milliseconds(_ duration: Duration) -> Int32 {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = duration.components
        guard seconds < 86_400 else { return 86_400_000 }
        let whole = Int64(seconds) * 1000 + attoseconds / 1_000_000_000_000_000
        let roundedUp = whole + (attoseconds % 1_000_000_000_000_000 == 0 ? 0 : 1)
        return Int32(roundedUp)
    }
}
