import JobProtocol
import RedisClient

/// How many jobs wait in each queue: the four work queues, their bulk lanes, and the
/// quarantine. One pipelined round trip of LLENs.
public enum QueueDepths {
    public static func load(connection: RedisConnection, keys: KeySpace) async throws -> [QueueName: Int] {
        let queues = QueueName.allCases
        let replies = try await connection.pipeline(queues.map { RedisCommand("LLEN", RedisArgument(keys.queue($0))) })
        return Dictionary(uniqueKeysWithValues: zip(queues, replies).map { ($0, $1.integer ?? 0) })
    }
}
