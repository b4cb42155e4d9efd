import Foundation
import JobProtocol
import RedisClient

/// The workers alive right now, as their heartbeats (`cervella:worker:<id>`) tell: how many,
/// which queues they serve, and how busy they are. `/readyz` and `/api/status` read it.
public struct LiveWorkers: Sendable, Equatable {
    /// Workers whose heartbeat has not expired.
    public var count = 0
    /// The queues at least one of them serves (`tier1`, `fallback`, …).
    public var queues: Set<String> { Set(workersByQueue.keys) }
    /// How many of them serve each queue.
    public var workersByQueue: [String: Int] = [:]
    /// Jobs they hold now, and the most they would hold at once.
    public var inFlight = 0
    public var concurrency = 0

    public init() {}

    /// Two round trips: the registry of processing lists (one per worker and queue) names the
    /// workers, one MGET reads their heartbeats. The registry rather than a SCAN of the
    /// keyspace, which holds a done marker per recent job. A worker whose heartbeat expired is
    /// still in the registry until the reaper clears it, and is not counted.
    public static func load(connection: RedisConnection, keys: KeySpace) async throws -> LiveWorkers {
        let lists = try await connection.send("SMEMBERS", RedisArgument(keys.processingLists)).array?.compactMap(\.string) ?? []
        let workerIDs = Set(lists.compactMap { keys.processingList(fromKey: $0)?.worker }).sorted()
        guard !workerIDs.isEmpty else { return LiveWorkers() }
        let values = try await connection.send(RedisCommand("MGET", arguments: workerIDs.map { RedisArgument(keys.worker($0)) })).array ?? []
        return LiveWorkers(heartbeats: values.compactMap(\.bytes))
    }

    /// The heartbeats' JSON (`{"queues":"tier1,fallback","in_flight":3,"concurrency":64,…}`);
    /// one that cannot be read is not a live worker.
    init(heartbeats: [[UInt8]]) {
        for bytes in heartbeats {
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                let queues = object["queues"] as? String
            else { continue }
            count += 1
            for queue in Set(queues.split(separator: ",").map(String.init)) { workersByQueue[queue, default: 0] += 1 }
            inFlight += object["in_flight"] as? Int ?? 0
            concurrency += object["concurrency"] as? Int ?? 0
        }
    }
}
