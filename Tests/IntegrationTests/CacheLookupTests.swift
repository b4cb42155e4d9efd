import CervellaTestSupport
import Foundation
import JobProtocol
import RedisClient
import Testing

/// The producer's enqueue script looks the cache up; a job it pushed says so
/// (`cache_checked`), and the worker spends no second round trip on the same lookup.
@Suite(.timeLimit(.minutes(1))) struct CacheLookupTests {
    /// A cached answer that appeared after the job was queued: only a worker that looks finds it.
    func plantCachedAnswer(for job: Job, in pool: TestPool) async throws {
        let metadata = ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 5, queueMs: 0, confidence: 0.99, costUSD: 0, tokensInput: 1, tokensOutput: 1,
            tierDecisionReason: "planted", worker: "test", timestamp: "2026-11-30T00:00:00Z"
        )
        let planted = JobResult.success(id: "planted", response: "planted answer", metadata: metadata)
        try await pool.redis.send("SET", RedisArgument(pool.keys.cache(CacheKey.digest(for: job))), RedisArgument(bytes: planted.jsonBytes()))
    }

    @Test func aJobThatTheProducerCheckedIsNotLookedUpAgain() async throws {
        try await withTestPool(workers: 0) { pool in
            let job = try pool.job("Summarize the checked report.")
            #expect(try await pool.producer.enqueue(job) == .queued)
            let queued = try #require(try await pool.redis.send("LINDEX", RedisArgument(pool.keys.queue(.tier1)), 0).bytes)
            #expect(try Job.decodeForTest(queued).cacheChecked)
            try await plantCachedAnswer(for: job, in: pool)
            try await pool.startWorkers(1)
            let result = try await pool.producer.waitForResult(job)
            #expect(result.metadata?.cacheHit == false)
            #expect(result.response != "planted answer")
            #expect(pool.simulator.stats.count("/v1/chat/completions") == 1)
        }
    }

    @Test func aJobPushedWithoutTheFlagIsLookedUpByTheWorker() async throws {
        try await withTestPool(workers: 0) { pool in
            let job = try pool.job("Summarize the raw report.")
            try await pool.redis.send("LPUSH", RedisArgument(pool.keys.queue(.tier1)), RedisArgument(bytes: job.jsonBytes()))
            try await plantCachedAnswer(for: job, in: pool)
            try await pool.startWorkers(1)
            let result = try await pool.producer.waitForResult(job)
            #expect(result.metadata?.cacheHit == true)
            #expect(result.response == "planted answer")
            #expect(pool.simulator.stats.count("/v1/chat/completions") == 0)
        }
    }
}

extension Job {
    static func decodeForTest(_ bytes: [UInt8]) throws -> Job {
        try JSONDecoder().decode(Job.self, from: Data(bytes))
    }
}
