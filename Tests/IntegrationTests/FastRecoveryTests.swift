import CervellaTestSupport
import Foundation
import JobProtocol
import RedisClient
import Spawn
import Testing

/// A worker process that dies closes its Redis connections at once; the reaper sees that in
/// `CLIENT LIST` and takes its jobs back in seconds, not after the heartbeat TTL (issue 12).
/// A worker that is only paused keeps its connections, and keeps its jobs until its TTL.
@Suite(.timeLimit(.minutes(2))) struct FastRecoveryTests {
    /// The launched worker keeps the default heartbeat (15 s TTL): only its connections can
    /// tell the reaper early that it died.
    static let launchedConfig = "[worker]\nblock_timeout_seconds = 0.5\n"

    func held(_ pool: TestPool, by process: SpawnedProcess) async throws -> Int {
        let lists = try await pool.redis.send("KEYS", RedisArgument(pool.keys.prefix + ":processing:*:*:\(process.processIdentifier)")).array ?? []
        var total = 0
        for list in lists { total += try await pool.redis.send("LLEN", RedisArgument(bytes: list.bytes ?? [])).integer ?? 0 }
        return total
    }

    /// Starts the in-process reaper (serving only the fallback queue, so the launched worker
    /// takes the tier-1 jobs) and a launched worker holding `count` slow jobs.
    func poolWithBusyWorker(count: Int, config: String = launchedConfig) async throws -> (TestPool, SpawnedProcess, [Job], Date) {
        let pool = try await TestPool(configure: {
            $0.worker.queues = ["fallback"]
            $0.worker.probationProcesses = 4
        })
        let started = Date()
        let process = try pool.launch(["worker"], config: config)
        // Slow enough to be still in flight through the pause below.
        let jobs = try (0..<count).map { try pool.job("Summarize slow report \($0).\n#sim latency_ms=15000", cache: false, timeout: 90) }
        for job in jobs { _ = try await pool.producer.enqueue(job) }
        let deadline = Date().addingTimeInterval(20)
        while try await held(pool, by: process) < count, Date() < deadline { try await Task.sleep(for: .milliseconds(25)) }
        #expect(try await held(pool, by: process) == count)
        #expect(try await held(pool, by: process) == count, "the jobs must still be in flight when the worker dies")
        return (pool, process, jobs, started)
    }

    @Test func aKilledWorkersJobsAreTakenBackWithinSecondsNotTheHeartbeatTTL() async throws {
        // A 60 s heartbeat TTL, so that a bound with room for a loaded machine still tells the
        // connections' signal from the heartbeat's expiry.
        let (pool, process, jobs, _) = try await poolWithBusyWorker(count: 3, config: Self.launchedConfig + "heartbeat_ttl_seconds = 60\n")
        process.signal(SIGKILL)
        await process.waitForExit()
        let killed = Date()
        while try await held(pool, by: process) > 0, Date().timeIntervalSince(killed) < 40 { try await Task.sleep(for: .milliseconds(50)) }
        let requeued = Date().timeIntervalSince(killed)
        // The heartbeat would have kept them for 60 s. The dead worker's reaper lease (1 s), a
        // reaper interval and the 0.75 s confirmation take about 2-3; a loaded CI machine once 5,
        // 10.4 and 15.6 (757 tests on two cores). Under 30 s cannot be the heartbeat's TTL.
        #expect(requeued < 30, "taken back \(requeued) s after the kill")
        for job in jobs {
            let result = try await pool.producer.waitForResult(job)
            #expect(result.ok, "\(String(describing: result.error))")
        }
        await pool.stop()
    }

    @Test func aPausedWorkerKeepsItsJobsUntilItsHeartbeatExpires() async throws {
        let (pool, process, jobs, _) = try await poolWithBusyWorker(count: 2)
        process.signal(SIGSTOP)
        try await Task.sleep(for: .seconds(5))
        // Its connections are open: it is not judged dead by them.
        #expect(try await held(pool, by: process) == 2)
        process.signal(SIGCONT)
        for job in jobs {
            let result = try await pool.producer.waitForResult(job)
            #expect(result.ok, "\(String(describing: result.error))")
        }
        #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.dead)).integer == 0)
        process.terminate()
        _ = await process.waitForExit(seconds: 15)
        await pool.stop()
    }
}
