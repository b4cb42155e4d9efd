import JobProtocol
import RedisClient
import Synchronization

/// Connections for BLPOP on reply lists, kept for reuse.
///
/// A blocking pop occupies its connection until it returns, so each concurrent waiter needs
/// one; keeping idle ones saves a TCP connect and handshake per request. The read timeout is
/// set past the longest wait the pool serves; a longer wait gets a connection of its own.
final class ReplyWaiters: Sendable {
    private let idle = Mutex<[RedisConnection]>([])
    private let configuration: RedisConfiguration
    private let maxWaitSeconds: Double
    private let maxIdle: Int

    init(configuration: RedisConfiguration, maxWaitSeconds: Double, maxIdle: Int = 16) {
        var configuration = configuration
        configuration.readTimeout = .seconds(saturating: maxWaitSeconds + 5)
        self.configuration = configuration
        self.maxWaitSeconds = maxWaitSeconds
        self.maxIdle = maxIdle
    }

    deinit { close() }

    /// BLPOP `key` for up to `seconds`; `.null` when nothing arrived.
    func pop(_ key: String, seconds: Double) async throws -> RedisValue {
        let timeout = RedisArgument(String(format: "%.3f", max(0.001, seconds)))
        guard seconds <= maxWaitSeconds else {
            var long = configuration
            long.readTimeout = .seconds(saturating: seconds + 5)
            let connection = RedisConnection(configuration: long, name: "reply-wait-long")
            defer { connection.close() }
            return try await connection.send("BLPOP", RedisArgument(key), timeout)
        }
        let connection = idle.withLock { $0.popLast() } ?? RedisConnection(configuration: configuration, name: "reply-wait")
        do {
            let reply = try await connection.send("BLPOP", RedisArgument(key), timeout)
            let kept = idle.withLock { idle in
                guard idle.count < maxIdle else { return false }
                idle.append(connection)
                return true
            }
            if !kept { connection.close() }
            return reply
        } catch {
            connection.close()
            throw error
        }
    }

    func close() {
        for connection in idle.withLock({ idle in defer { idle.removeAll() }; return idle }) { connection.close() }
    }
}
