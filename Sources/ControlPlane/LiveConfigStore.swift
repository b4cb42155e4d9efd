import Foundation
import JobProtocol
import RedisClient

/// Reads and writes the `cervella:config` hash; every write is announced on the
/// `cervella:config` channel in the same MULTI/EXEC.
public struct LiveConfigStore: Sendable {
    public let connection: RedisConnection
    public let keys: KeySpace

    public init(connection: RedisConnection, keys: KeySpace) {
        self.connection = connection
        self.keys = keys
    }

    public func read() async throws -> [String: String] {
        let reply = try await connection.send("HGETALL", RedisArgument(keys.config))
        var hash: [String: String] = [:]
        let values = reply.array ?? []
        var index = 0
        while index + 1 < values.count {
            if let field = values[index].string, let value = values[index + 1].string { hash[field] = value }
            index += 2
        }
        return hash
    }

    /// Sets fields, stamps the change, and publishes the changed field names. An operator's
    /// write of a tier's switch takes it over from the pool: `TierGuard` never turns back on a
    /// tier whose record this deletes.
    public func set(_ fields: [String: String], by actor: String) async throws {
        var arguments: [RedisArgument] = [RedisArgument(keys.config)]
        for (field, value) in fields.sorted(by: { $0.key < $1.key }) {
            arguments.append(RedisArgument(field))
            arguments.append(RedisArgument(value))
        }
        arguments += ["updated_at", RedisArgument(String(Date().timeIntervalSince1970)), "updated_by", RedisArgument(actor)]
        let announcement = fields.keys.sorted().map { "\($0)=\(fields[$0]!)" }.joined(separator: " ")
        var commands = [
            RedisCommand("HSET", arguments: arguments),
            RedisCommand("PUBLISH", RedisArgument(keys.config), RedisArgument(announcement)),
        ]
        for tier in Tier.allCases where fields["tier\(tier)_enabled"] != nil {
            commands.append(RedisCommand("HDEL", RedisArgument(keys.autoSwitch), RedisArgument("tier\(tier)"), RedisArgument("tier\(tier)_previous")))
        }
        _ = try await connection.transaction(commands)
    }

    /// Removes overrides, so the file settings apply again.
    public func reset(by actor: String) async throws {
        _ = try await connection.transaction([
            RedisCommand("DEL", RedisArgument(keys.config)),
            RedisCommand("DEL", RedisArgument(keys.autoSwitch)),
            RedisCommand("PUBLISH", RedisArgument(keys.config), RedisArgument("reset by \(actor)")),
        ])
    }

    /// The report's emergency rollback: tiers 1 and 2 off, everything to Claude.
    public func emergencyRollback(by actor: String) async throws {
        try await set(["tier1_enabled": "false", "tier2_enabled": "false"], by: actor)
    }
}
