import JobProtocol
import RedisClient
import Synchronization

/// Connections for BLPOP on reply lists, kept for reuse.
///
/// A blocking pop occupies its connection until it returns, so each concurrent waiter needs
/// one; keeping idle ones saves a TCP connect and handshake per request. The read timeout is
/// set past the longest wait the pool serves; a longer wait gets a connection of its own.
final class ReplyWaiters: Sendable {
    private let idle: Mutex<IdlePool<RedisConnection>>
    /// The pooled connections' configuration: the read timeout outlasts the longest wait.
    let configuration: RedisConfiguration
    let maxWaitSeconds: Double

    init(configuration: RedisConfiguration, maxWaitSeconds: Double, maxIdle: Int = 16) {
        var configuration = configuration
        configuration.readTimeout = .seconds(saturating: maxWaitSeconds + 5)
        self.configuration = configuration
        self.maxWaitSeconds = maxWaitSeconds
        self.idle = Mutex(IdlePool(limit: maxIdle))
    }

    deinit { close() }

    /// Whether a wait of `seconds` uses a pooled connection (else one of its own, whose read
    /// timeout is set for it).
    func servesFromPool(seconds: Double) -> Bool {
        seconds <= maxWaitSeconds
    }

    /// BLPOP's timeout argument: seconds to the millisecond, at least one millisecond, since
    /// 0 would block for ever.
    static func blockTimeout(_ seconds: Double) -> String {
        String(format: "%.3f", max(0.001, seconds))
    }

    /// BLPOP `key` for up to `seconds`; `.null` when nothing arrived.
    func pop(_ key: String, seconds: Double) async throws -> RedisValue {
        let timeout = RedisArgument(Self.blockTimeout(seconds))
        guard servesFromPool(seconds: seconds) else {
            var long = configuration
            long.readTimeout = .seconds(saturating: seconds + 5)
            let connection = RedisConnection(configuration: long, name: "reply-wait-long")
            defer { connection.close() }
            return try await connection.send("BLPOP", RedisArgument(key), timeout)
        }
        let connection = idle.withLock { $0.take() } ?? RedisConnection(configuration: configuration, name: "reply-wait")
        do {
            let reply = try await connection.send("BLPOP", RedisArgument(key), timeout)
            if !idle.withLock({ $0.keep(connection) }) { connection.close() }
            return reply
        } catch {
            connection.close()
            throw error
        }
    }

    func close() {
        for connection in idle.withLock({ $0.drain() }) { connection.close() }
    }
}

/// Idle connections kept for reuse: the last one returned is the next one taken (the one
/// likeliest still to be open), and at most `limit` are kept.
struct IdlePool<Element> {
    let limit: Int
    private(set) var elements: [Element] = []

    init(limit: Int) {
        self.limit = limit
    }

    mutating func take() -> Element? {
        elements.popLast()
    }

    /// Keeps `element` for reuse; false when the pool is full (the caller closes it).
    mutating func keep(_ element: Element) -> Bool {
        guard elements.count < limit else { return false }
        elements.append(element)
        return true
    }

    /// Takes every idle element, to close them.
    mutating func drain() -> [Element] {
        defer { elements.removeAll() }
        return elements
    }
}
