import CervellaTestSupport
import Foundation
import JobProtocol
import Producer
import RedisClient
import Settings
import Testing

/// Lanes: bulk jobs (groups, batches) wait in their own lists and get only what interactive
/// jobs leave of a worker's slots.
@Suite(.timeLimit(.minutes(5))) struct LaneTests {
    @Test func anInteractiveJobIsServedWhileABatchFillsTheWorker() async throws {
        // Two slots: one for bulk jobs (interactive_reserve keeps the other), each bulk job
        // answered after 250 ms.
        try await withTestPool(configure: { $0.worker.concurrency = 2 }) { pool in
            let children = try (0..<20).map { try pool.job("Summarise part \($0) of the report.\n#sim latency_ms=250", tier: 1, cache: false) }
            let group = try pool.producer.makeGroup(children, timeoutSeconds: 120)
            #expect(group.children.allSatisfy { $0.priority == .bulk }, "a group's children are bulk by default")
            try await pool.producer.submitGroup(group)
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.queue(.tier1Bulk))).integer ?? 0 > 0)
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.queue(.tier1))).integer == 0)
            let started = await eventually(timeout: .seconds(60)) {
                ((try? await pool.producer.groupStatus(group.id))?.succeeded ?? 0) >= 1
            }
            #expect(started)
            let answer = try await pool.ask("Explain what a queue is.", tier: 1, cache: false)
            #expect(answer.ok)
            // Twenty bulk jobs one at a time take five seconds; the interactive one did not wait
            // behind them (no clock here: what is left of the batch says it).
            let status = try #require(try await pool.producer.groupStatus(group.id))
            #expect(status.succeeded < 15, "the interactive job was answered while \(20 - status.succeeded) bulk jobs still waited")
            let report = try await pool.producer.awaitGroup(group)
            #expect(report.ok == true && report.succeeded == 20, "the batch still finished")
        }
    }

    @Test func aBulkJobFallsBackInTheBulkLane() async throws {
        // The tier-1 worker only: a fallback waits where a Claude worker would take it.
        try await withTestPool(configure: { $0.worker.queues = ["tier1"] }) { pool in
            var job = try pool.job("Explain queues.\n#sim evasive", tier: 1, cache: false)
            job.priority = .bulk
            _ = try await pool.producer.enqueue(job)
            let moved = await eventually {
                (try? await pool.redis.send("LLEN", RedisArgument(pool.keys.queue(.fallbackBulk))).integer) == 1
            }
            #expect(moved)
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.queue(.fallback))).integer == 0)
        }
    }
}
