import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Settings

/// The one atomic write that ends a job's stay in a worker: its outcome, its statistics, and
/// the LREM that takes it off the processing list, so a crash leaves all or none of them.
struct JobCommit: Sendable {
    enum Outcome: Sendable {
        /// Answer (or error) to the reply list; the answer to the cache when `cacheKey` is set.
        case reply(job: Job, result: JobResult, cacheKey: String?)
        /// Push to the Claude fallback queue, `fallback_from` filled in.
        case fallback(job: Job)
        /// Unreadable job: to the dead letter list, and an error result where a reply key is known.
        case dead(reason: String, replyTo: String?, jobID: String?)
    }

    var outcome: Outcome
    var stats: [StatsEvent]

    static func reply(_ job: Job, _ result: JobResult, cacheKey: String? = nil, stats: [StatsEvent]) -> JobCommit {
        JobCommit(outcome: .reply(job: job, result: result, cacheKey: cacheKey), stats: stats)
    }

    func commands(keys: KeySpace, settings: CervellaSettings, fetched: FetchedJob, worker: String) -> [RedisCommand] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let processing = RedisArgument(keys.processing(fetched.queue, worker: worker))
        let payload = RedisArgument(bytes: fetched.payload)
        let replyTTL = RedisArgument(settings.redis.replyTTLSeconds)
        var commands: [RedisCommand] = []
        switch outcome {
        case .reply(let job, let result, let cacheKey):
            let bytes = Array((try? encoder.encode(result)) ?? Data())
            commands.append(RedisCommand("LPUSH", RedisArgument(job.replyTo), RedisArgument(bytes: bytes)))
            commands.append(RedisCommand("EXPIRE", RedisArgument(job.replyTo), replyTTL))
            if let cacheKey, result.ok {
                commands.append(RedisCommand("SET", RedisArgument(cacheKey), RedisArgument(bytes: bytes), "EX", RedisArgument(settings.cache.ttlSeconds)))
            }
        case .fallback(let job):
            let bytes = Array((try? encoder.encode(job)) ?? Data())
            commands.append(RedisCommand("LPUSH", RedisArgument(keys.queue(.fallback)), RedisArgument(bytes: bytes)))
        case .dead(let reason, let replyTo, let jobID):
            let entry: [String: Any] = [
                "reason": reason, "queue": fetched.queue.rawValue, "worker": worker, "at": Date().timeIntervalSince1970,
                "id": jobID ?? NSNull(), "payload": String(decoding: fetched.payload, as: UTF8.self),
            ]
            let bytes = Array((try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])) ?? Data())
            commands.append(RedisCommand("LPUSH", RedisArgument(keys.dead), RedisArgument(bytes: bytes)))
            if let replyTo {
                let result = JobResult.failure(id: jobID ?? "", code: "invalid_job", message: reason)
                commands.append(RedisCommand("LPUSH", RedisArgument(replyTo), RedisArgument(bytes: Array((try? encoder.encode(result)) ?? Data()))))
                commands.append(RedisCommand("EXPIRE", RedisArgument(replyTo), replyTTL))
            }
        }
        commands += HourlyStats.commands(for: stats, keys: keys)
        commands.append(RedisCommand("LREM", processing, 1, payload))
        return commands
    }
}
