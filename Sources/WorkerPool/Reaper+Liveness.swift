import Foundation
import JobProtocol
import RedisClient
import Synchronization

/// How the reaper tells a dead worker from a live one.
///
/// A heartbeat that expired (15 s after the last beat) is the verdict that holds everywhere,
/// a lost host or a partition included. But a worker *process* that dies closes its sockets
/// at once, and Redis drops its connections: every connection of a worker is named after it
/// (`KeySpace.connectionName`), so a worker that holds jobs, still has a heartbeat, and has no
/// connection left in `CLIENT LIST` is dead seconds after its death, not a TTL later.
///
/// Two guards keep a live worker from being judged by a passing disconnection: the absence
/// must still be there `confirmation` later (a dropped connection reconnects within tens of
/// milliseconds), and Redis must have been up for `settlingSeconds`, since after a Redis
/// restart every worker is briefly without connections. The same holds after a Sentinel
/// failover, on a primary whose uptime says nothing about when it became the primary: its
/// replication id is new, and connections are judged only `settlingSeconds` after this reaper
/// first saw that id (`PrimaryWatch`). A paused process keeps its
/// sockets, so it is judged by its heartbeat, as before. Workers from before this rule (no
/// `named_connections` in their heartbeat) are judged by their heartbeat only.
extension Reaper {
    static let confirmation = Duration.milliseconds(750)
    static let settlingSeconds = 5

    /// The owners among `lists` that are dead, each with why.
    func deadOwners(of lists: [(key: String, queue: QueueName, owner: String)]) async throws -> [String: String] {
        guard !lists.isEmpty else { return [:] }
        var commands: [RedisCommand] = []
        for list in lists {
            commands.append(RedisCommand("GET", RedisArgument(keys.worker(list.owner))))
            commands.append(RedisCommand("LLEN", RedisArgument(list.key)))
        }
        let replies = try await writer.connection.pipeline(commands)
        var dead: [String: String] = [:]
        var judgedByConnections: Set<String> = []
        for (index, list) in lists.enumerated() {
            guard let beat = replies[2 * index].bytes else {
                dead[list.owner] = "heartbeat expired"
                continue
            }
            let holdsJobs = (replies[2 * index + 1].integer ?? 0) > 0
            if holdsJobs, Self.namesItsConnections(beat) { judgedByConnections.insert(list.owner) }
        }
        guard !judgedByConnections.isEmpty, var absent = try await disconnected(among: judgedByConnections) else { return dead }
        guard !absent.isEmpty else { return dead }
        try? await Task.sleep(for: Self.confirmation)
        if Task.isCancelled { return dead }
        absent = absent.intersection(try await disconnected(among: absent) ?? [])
        for owner in absent { dead[owner] = "no Redis connection left" }
        return dead
    }

    /// The owners with no connection in `CLIENT LIST`; nil when that cannot be told (CLIENT
    /// LIST or INFO refused by an ACL, or a Redis that started too recently to judge by).
    private func disconnected(among owners: Set<String>) async throws -> Set<String>? {
        let replies = try? await writer.connection.pipeline([
            RedisCommand("CLIENT", "LIST"), RedisCommand("INFO", "server"), RedisCommand("INFO", "replication"),
        ])
        guard let replies, let listing = replies[0].string, let info = replies[1].string, let replication = replies[2].string else { return nil }
        // After a Redis restart or a failover every worker is without connections until it
        // reconnects (backoff up to 2 s): judge by connections only once this server has been
        // up, and the primary, for longer.
        guard let uptime = Self.info("uptime_in_seconds", in: info).flatMap({ Int($0) }), uptime >= Self.settlingSeconds,
            let primary = Self.info("master_replid", in: replication),
            primaryWatch.secondsSince(primary: String(primary)) >= Double(Self.settlingSeconds)
        else { return nil }
        var connected: Set<String> = []
        for line in listing.split(separator: "\n") {
            guard let name = Self.field("name", in: line), let owner = keys.worker(fromConnectionName: name) else { continue }
            connected.insert(owner)
        }
        return owners.subtracting(connected)
    }

    /// The value of `field:value` in an INFO reply.
    static func info(_ field: String, in text: String) -> Substring? {
        text.split(whereSeparator: \.isNewline).first { $0.hasPrefix(field + ":") }?.dropFirst(field.count + 1)
    }

    /// `value` of `key=value` in one line of `CLIENT LIST`.
    static func field(_ key: String, in line: Substring) -> Substring? {
        for token in line.split(separator: " ") where token.hasPrefix(key) && token.dropFirst(key.count).first == "=" {
            return token.dropFirst(key.count + 1)
        }
        return nil
    }

    static func namesItsConnections(_ heartbeat: [UInt8]) -> Bool {
        let marker = Array(#""named_connections":true"#.utf8)
        guard heartbeat.count >= marker.count else { return false }
        return (0...(heartbeat.count - marker.count)).contains { heartbeat[$0..<($0 + marker.count)].elementsEqual(marker) }
    }
}

/// When this reaper first saw the primary's replication id (`master_replid`, new on every
/// promotion): the time a failover happened, as far as the reaper can tell.
final class PrimaryWatch: Sendable {
    private let seen = Mutex<(primary: String, at: ContinuousClock.Instant)?>(nil)

    /// Seconds since `primary` was first seen; 0 the first time and after a change.
    func secondsSince(primary: String) -> Double {
        seen.withLock { seen in
            let now = ContinuousClock.now
            guard let previous = seen, previous.primary == primary else {
                seen = (primary, now)
                return 0
            }
            let (seconds, attoseconds) = (now - previous.at).components
            return Double(seconds) + Double(attoseconds) / 1e18
        }
    }
}
