import Foundation

/// Finds the server a new connection should use: the configured one, or the primary that Redis
/// Sentinel names for the configured master.
///
/// The Sentinels are asked on every new connection (Redis' guidelines for Sentinel clients),
/// in order, until one answers; nothing is cached, so a connection made after a failover
/// reaches the new primary. The caller then checks with `ROLE` that the server it reached is
/// a primary: during a failover a Sentinel may still name the old one.
enum PrimaryLocator {
    /// How long each Sentinel may take to answer; the next one is asked after that.
    static let sentinelTimeout: Duration = .seconds(1)

    /// Connects to the server the configuration names, or to the primary the Sentinels name.
    static func connect(_ configuration: RedisConfiguration, readTimeout: Duration) throws(RedisError) -> (HiredisContext, RedisConfiguration.Address)
    {
        let address =
            configuration.sentinels.isEmpty
            ? RedisConfiguration.Address(host: configuration.host, port: configuration.port) : try primary(configuration)
        let context = try HiredisContext.connect(
            host: address.host, port: address.port, connectTimeout: configuration.connectTimeout, readTimeout: readTimeout)
        return (context, address)
    }

    /// The primary's address as the first Sentinel that answers gives it.
    static func primary(_ configuration: RedisConfiguration) throws(RedisError) -> RedisConfiguration.Address {
        let master = configuration.masterName ?? ""
        var failures: [String] = []
        for sentinel in configuration.sentinels {
            do {
                return try ask(sentinel, master: master, configuration: configuration)
            } catch {
                failures.append("\(sentinel): \(error.message)")
            }
        }
        throw RedisError(
            .connectionFailed,
            "no Sentinel named the primary of '\(master)' (\(failures.joined(separator: "; "))); are the Sentinels running and monitoring it?")
    }

    private static func ask(_ sentinel: RedisConfiguration.Address, master: String, configuration: RedisConfiguration) throws(RedisError)
        -> RedisConfiguration.Address
    {
        let context = try HiredisContext.connect(
            host: sentinel.host, port: sentinel.port, connectTimeout: min(configuration.connectTimeout, sentinelTimeout),
            readTimeout: sentinelTimeout)
        var commands: [RedisCommand] = []
        if let password = configuration.sentinelPassword { commands.append(RedisCommand("AUTH", RedisArgument(password))) }
        commands.append(RedisCommand("SENTINEL", "get-master-addr-by-name", RedisArgument(master)))
        for command in commands { try context.append(encoded: command.encoded[...]) }
        var replies: [RedisValue] = []
        for _ in commands { replies.append(try context.readReply()) }
        if case .error(let message) = replies[0] {
            throw RedisError(.authenticationFailed, "refused: \(message); check the Sentinels' password (REDIS_SENTINEL_PASSWORD)")
        }
        switch replies.last {
        case .array(let parts)? where parts.count == 2:
            guard let host = parts[0].string, let port = parts[1].string.flatMap(Int.init), (1...65535).contains(port) else {
                throw RedisError(.serverError, "answered an address that is not host and port")
            }
            return RedisConfiguration.Address(host: host, port: port)
        case .error(let message)?:
            throw RedisError(.serverError, message)
        default:
            throw RedisError(.serverError, "does not monitor a master named '\(master)'")
        }
    }
}
