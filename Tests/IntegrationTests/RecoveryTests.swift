import CervellaTestSupport
import Foundation
import JobProtocol
import RedisClient
import Testing

/// Crash recovery, the exactly-one-reply guard and poison jobs.
@Suite(.timeLimit(.minutes(2))) struct RecoveryTests {
    func encode(_ job: Job) throws -> RedisArgument { RedisArgument(bytes: Array(try JSONEncoder().encode(job))) }

    /// The bound is for the whole suite on two cores, where five probation processes start
    /// beside every other test; `scripts/chaos` measures recovery on a quiet machine.
    @Test func killedWorkersJobsRunAgainWithinThirtySeconds() async throws {
        // The dead worker's five jobs are quarantined and run one per probation process
        // (docs/RELIABILITY.md); five processes run them side by side, as five workers' two each would.
        try await withTestPool(configure: { $0.worker.probationProcesses = 5 }, workers: 0) { pool in
            let process = try pool.launch(
                ["worker"], config: "[worker]\nblock_timeout_seconds = 0.5\nheartbeat_interval_seconds = 1.0\nheartbeat_ttl_seconds = 3\n")

            let jobs = try (0..<5).map { try pool.job("Summarize chapter \($0).\n#sim latency_ms=5000", cache: false, timeout: 60) }
            for job in jobs { _ = try await pool.producer.enqueue(job) }
            let pattern = RedisArgument(pool.keys.prefix + ":processing:*")
            var held = 0
            for _ in 0..<200 where held < 5 {
                try await Task.sleep(for: .milliseconds(25))
                held = 0
                for key in try await pool.redis.send("KEYS", pattern).array ?? [] {
                    held += try await pool.redis.send("LLEN", RedisArgument(bytes: key.bytes ?? [])).integer ?? 0
                }
            }
            #expect(held == 5)
            kill(process.processIdentifier, SIGKILL)
            for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            let killedAt = Date()

            // A surviving worker's reaper finds the orphaned list once the heartbeat expires.
            try await pool.startWorkers(1)
            for job in jobs {
                let result = try await pool.producer.waitForResult(job)
                #expect(result.ok, "\(String(describing: result.error))")
            }
            let recovery = Date().timeIntervalSince(killedAt) - 5  // minus the simulated 5 s call
            #expect(recovery < 30, "jobs ran again \(recovery) s after the kill")
            try await pool.settleStats()
            // The recovery is counted in the hour it happened, which may be the one before now.
            var stats: [String] = []
            for hour in Set([HourKey.at(killedAt), HourKey.now()]) {
                stats += try await pool.redis.send("HGETALL", RedisArgument(pool.keys.stats(hour: hour))).array?.compactMap(\.string) ?? []
            }
            #expect(stats.contains("recovered"))
        }
    }

    @Test func aJobFinishedTwiceGetsExactlyOneReply() async throws {
        try await withTestPool { pool in
            let job = try pool.job("Summarize the duplicate.\n#sim latency_ms=50", cache: false)
            // The same job twice in the queue, as after a reclaim of a worker that was only slow.
            try await pool.redis.send("LPUSH", RedisArgument(pool.keys.queue(.tier1)), try encode(job), try encode(job))
            let first = try await pool.producer.waitForResult(job)
            #expect(first.ok)
            // The second finisher commits after the first; wait for its count, not for a fixed time.
            let hour = RedisArgument(pool.keys.stats(hour: HourKey.now()))
            let deadline = Date().addingTimeInterval(10)
            while try await pool.redis.send("HGET", hour, "duplicate_provider_calls").integer == nil, Date() < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(pool.simulator.stats.count("/v1/chat/completions") == 2)
            #expect(try await pool.redis.send("LLEN", RedisArgument(job.replyTo)).integer == 0)
            #expect(try await pool.redis.send("HGET", hour, "duplicate_provider_calls").integer == 1)
            #expect(try await pool.redis.send("HGET", hour, "answered:tier1").integer == 1)
        }
    }

    @Test func jobsOfADeadWorkerReturnAndThePoisonOneIsRetired() async throws {
        try await withTestPool(workers: 0) { pool in
            let ghost = pool.keys.processing(.tier1, worker: "ghost-host:4242")
            let healthy = try pool.job("Summarize the survivor.", cache: false)
            var poison = try pool.job("Summarize the poison.", cache: false)
            poison.recoveries = (0..<2).map { Recovery(worker: "ghost-\($0)", at: Date().timeIntervalSince1970 - 100, queue: "tier1") }
            try await pool.redis.send("LPUSH", RedisArgument(ghost), try encode(healthy), try encode(poison))
            // A live worker's list is left alone.
            let alive = pool.keys.processing(.tier1, worker: "busy-host:1")
            try await pool.redis.send("SET", RedisArgument(pool.keys.worker("busy-host:1")), "{}", "EX", 30)
            try await pool.redis.send("LPUSH", RedisArgument(alive), try encode(try pool.job("Still being worked on.")))

            try await pool.startWorkers(1)
            let answered = try await pool.producer.waitForResult(healthy)
            #expect(answered.ok)
            let retired = try await pool.producer.waitForResult(poison)
            #expect(retired.ok == false)
            #expect(retired.error?.code == "poison_job")
            let dead = try await pool.redis.send("LRANGE", RedisArgument(pool.keys.dead), 0, -1).array ?? []
            #expect(dead.count == 1)
            let entry = try JSONSerialization.jsonObject(with: Data(try #require(dead.first?.bytes))) as? [String: Any]
            #expect((entry?["history"] as? [String])?.count == 3)
            #expect(try await pool.redis.send("LLEN", RedisArgument(ghost)).integer == 0)
            #expect(try await pool.redis.send("LLEN", RedisArgument(alive)).integer == 1)
        }
    }

    /// A BLMOVE whose reply is lost to a dropped connection leaves the job in a *live* worker's
    /// list, where no reaper looks; the worker finds such strays itself (at start and after a
    /// fetch error) and hands them back. Found by scripts/chaos killing Redis mid-run.
    @Test func aStrayInALiveWorkersOwnListIsHandedBack() async throws {
        try await withTestPool(workers: 0) { pool in
            let stray = try pool.job("Summarize the stray.", cache: false)
            try await pool.redis.send("LPUSH", RedisArgument(pool.keys.processing(.tier1, worker: "test-worker-0")), try encode(stray))
            try await pool.startWorkers(1)
            let result = try await pool.producer.waitForResult(stray)
            #expect(result.ok)
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.processing(.tier1, worker: "test-worker-0"))).integer == 0)
        }
    }

    @Test func aLongCallOfALiveWorkerIsNeverReclaimed() async throws {
        // Heartbeat TTL 5 s, call 7 s: the heartbeat keeps the job with its worker.
        try await withTestPool(workers: 2) { pool in
            let result = try await pool.ask("Summarize slowly.\n#sim latency_ms=7000", cache: false, timeout: 90)
            #expect(result.ok)
            #expect(pool.simulator.stats.count("/v1/chat/completions") == 1)
        }
    }
}

enum HourKey {
    static func now() -> String { at(Date()) }

    /// The stats hash's hour (`yyyyMMddHH`, UTC) of `date`.
    static func at(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHH"
        return formatter.string(from: date)
    }
}
