import Foundation
import JobProtocol
import RedisClient

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
/// replication id is new, and connections are judged only `settlingSeconds` after the pool
/// first saw that id (`secondsSincePrimarySeen`). A paused process keeps its
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
            RedisCommand("GET", RedisArgument(keys.primarySeen)),
        ])
        guard let replies, let listing = replies[0].string, let info = replies[1].string, let replication = replies[2].string else { return nil }
        // After a Redis restart or a failover every worker is without connections until it
        // reconnects (backoff up to 2 s): judge by connections only once this server has been
        // up, and the primary, for longer.
        guard let uptime = Self.info("uptime_in_seconds", in: info).flatMap({ Int($0) }), uptime >= Self.settlingSeconds,
            let primary = Self.info("master_replid", in: replication),
            try await secondsSincePrimarySeen(String(primary), record: replies[3].string, uptime: uptime) >= Double(Self.settlingSeconds)
        else { return nil }
        var connected: Set<String> = []
        for line in listing.split(separator: "\n") {
            guard let name = Self.field("name", in: line), let owner = keys.worker(fromConnectionName: name) else { continue }
            connected.insert(owner)
        }
        return owners.subtracting(connected)
    }

    /// Seconds since the pool first saw `primary` (its replication id), from the pool-wide
    /// record `<replid> <unix seconds>` in `KeySpace.primarySeen`, which replicates with the
    /// rest: a promoted replica still holds the old primary's id there, so a new id means a
    /// failover just happened, and the record restarts at 0. Without a record (a new
    /// deployment, or a Redis that lost its data) there was no failover to wait for: the
    /// server's uptime stands for it. Shared, so that a worker started later does not wait
    /// the settling time again.
    func secondsSincePrimarySeen(_ primary: String, record: String?, uptime: Int, now: Date = Date()) async throws -> Double {
        let stamp = now.timeIntervalSince1970
        if let parts = record?.split(separator: " "), parts.count == 2, parts[0] == Substring(primary),
            let since = Double(parts[1]), since.isFinite, since > 0, since <= stamp
        {
            return stamp - since
        }
        let elapsed = record == nil ? Double(min(max(uptime, 0), 86_400 * 365)) : 0
        try await writer.connection.send("SET", RedisArgument(keys.primarySeen), RedisArgument("\(primary) \(stamp - elapsed)"))
        return elapsed
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
