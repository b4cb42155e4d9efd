import Synchronization

/// A Lua script run with EVALSHA, loaded on first use and again after a server restart.
public final class RedisScript: Sendable {
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(_ source: String) { self.source = source }

    fileprivate var cachedSHA: String? {
        get { sha.withLock { $0 } }
        set { sha.withLock { $0 = newValue } }
    }
}

extension RedisConnection {
    /// Runs `script` with EVALSHA; on NOSCRIPT (first use, or Redis restarted) it loads the
    /// script and tries once more.
    /// With `replicated`, the reply comes once the configured replicas hold the script's
    /// writes (`pipeline(_:replicated:)`).
    public func evaluate(_ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument], replicated: Bool = false) async throws
        -> RedisValue
    {
        if let sha = script.cachedSHA {
            let reply = try await pipeline([evalsha(sha, keys, arguments)], replicated: replicated)[0]
            if case .error(let message) = reply {
                guard message.hasPrefix("NOSCRIPT") else { throw RedisError(.serverError, "script failed: \(message)") }
            } else {
                return reply
            }
        }
        let loaded = try await send("SCRIPT", "LOAD", RedisArgument(script.source))
        guard let sha = loaded.string else { throw RedisError(.serverError, "SCRIPT LOAD returned no SHA") }
        script.cachedSHA = sha
        let reply = try await pipeline([evalsha(sha, keys, arguments)], replicated: replicated)[0]
        if case .error(let message) = reply { throw RedisError(.serverError, "script failed: \(message)") }
        return reply
    }

    private func evalsha(_ sha: String, _ keys: [RedisArgument], _ arguments: [RedisArgument]) -> RedisCommand {
        RedisCommand("EVALSHA", arguments: [RedisArgument(sha), RedisArgument(keys.count)] + keys + arguments)
    }
}
