import CervellaTestSupport
import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Testing

/// Report 5.4's auto-scale signal, end to end: the pool's own worker decides it from the
/// statistics its jobs produce, and posts it to a webhook (the simulator's receiver).
@Suite(.timeLimit(.minutes(3))) struct ScaleSignalTests {
    /// The stored signal (`cervella:scale`), or nil before the first decision.
    func signal(_ pool: TestPool) async throws -> [String: Any]? {
        guard let bytes = try await pool.redis.send("GET", RedisArgument(pool.keys.scaleSignal)).bytes else { return nil }
        return try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
    }

    /// Polls the stored signal until it asks for capacity; the last one read (nil: none yet).
    func waitUntilWanted(_ pool: TestPool, seconds: Int) async throws -> [String: Any]? {
        let end = ContinuousClock.now + .seconds(seconds)
        var last: [String: Any]?
        while ContinuousClock.now < end {
            last = try await signal(pool)
            if last?["wanted"] as? Bool == true { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        return last
    }

    func webhooks(_ pool: TestPool) -> [[String: Any]] {
        pool.simulator.stats.webhooks.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Keeps `concurrency` tier-1 requests of `latencyMs` in flight until cancelled.
    func load(_ pool: TestPool, latencyMs: Int, concurrency: Int) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for lane in 0..<concurrency {
                    group.addTask {
                        var index = 0
                        while !Task.isCancelled {
                            index += 1
                            _ = try? await pool.ask("Summarize note \(lane)-\(index).\n#sim latency_ms=\(latencyMs)", tier: 1, cache: false)
                        }
                    }
                }
            }
        }
    }

    @Test func theSignalStaysQuietUnderFastAnswersFiresWhileP95StaysOverTheLimitAndClears() async throws {
        try await withTestPool(configure: { settings in
            // A 5 s limit and 7 s answers: the whole suite, run at once on two cores, has made
            // 100 ms answers take 2 to 5 s, which must not count as over.
            settings.scaling.windowSeconds = 20
            settings.scaling.p95ThresholdMs = 5000
            settings.scaling.webhookIntervalSeconds = 10
            // The pool's simulator (every tier's endpoint) also receives the webhook.
            settings.scaling.webhookURL = settings.tier(.tier1).endpoints[0] + "/sim/webhook"
        }) { pool in
            // Quiet: answers in about 100 ms for longer than the window. The advisor decides
            // all along (the stored signal exists) and never asks for capacity.
            let fast = load(pool, latencyMs: 100, concurrency: 2)
            let quietEnd = ContinuousClock.now + .seconds(28)
            var decisions = 0
            while ContinuousClock.now < quietEnd {
                if let stored = try await signal(pool) {
                    decisions += 1
                    #expect(stored["wanted"] as? Bool == false, "asked for capacity under fast answers: \(stored)")
                }
                try await Task.sleep(for: .seconds(1))
            }
            fast.cancel()
            await fast.value
            #expect(decisions > 5)  // one a second if it keeps up; a loaded run made 9
            #expect(webhooks(pool).isEmpty)

            // Over the limit: every answer takes 7 s, so each 10 s slot's p95 is past 5000 ms.
            let slow = load(pool, latencyMs: 7000, concurrency: 4)
            let stored = try #require(try await waitUntilWanted(pool, seconds: 60), "no signal within 60 s of slow answers")
            #expect(stored["wanted"] as? Bool == true)
            #expect((stored["reasons"] as? [String])?.contains("latency") == true)
            #expect(stored["p95_ms"] as? Int == 10000)  // the 5000–10000 ms bucket's bound
            #expect(stored["gpu_hosts"] as? Int == 1)
            #expect((stored["needed_gpu_hosts"] as? Int ?? 0) >= 2)
            #expect((stored["needed_workers"] as? Int ?? 0) > (stored["workers"] as? Int ?? 0))
            // The webhook was posted on its own task: it arrives shortly after.
            #expect(try await eventually(timeout: .seconds(10)) { webhooks(pool).contains { $0["event"] as? String == "scale_up" } })
            let hook = try #require(webhooks(pool).first { $0["event"] as? String == "scale_up" })
            #expect(hook["tier"] as? Int == 1)
            #expect((hook["reasons"] as? [String])?.contains("latency") == true)
            slow.cancel()
            await slow.value

            // Fast again: the first slot under the limit ends it, and the webhook says so.
            let recovery = load(pool, latencyMs: 100, concurrency: 2)
            #expect(try await eventually(timeout: .seconds(60)) { try await signal(pool)?["wanted"] as? Bool == false })
            #expect(try await eventually(timeout: .seconds(10)) { webhooks(pool).contains { $0["event"] as? String == "resolved" } })
            recovery.cancel()
            await recovery.value
        }
    }

    @Test func aBacklogThatWillMissItsDeadlinesAsksForCapacity() async throws {
        try await withTestPool(configure: { settings in
            settings.worker.concurrency = 2
        }) { pool in
            #expect(try await eventually(timeout: .seconds(20)) { try await signal(pool) != nil })
            #expect(try await signal(pool)?["wanted"] as? Bool == false)
            // Two slots, 3 s a job: 30 jobs need 45 s; the newest has 20 s.
            for index in 0..<30 {
                _ = try await pool.producer.enqueue(
                    try pool.job("Summarize queued note \(index).\n#sim latency_ms=3000", tier: 1, cache: false, timeout: 20))
            }
            let stored = try #require(try await waitUntilWanted(pool, seconds: 40))
            #expect(stored["wanted"] as? Bool == true, "no signal within 40 s: \(stored)")
            #expect((stored["reasons"] as? [String]) == ["backlog"])
            #expect((stored["backlog"] as? Int ?? 0) > 0)
            #expect((stored["needed_workers"] as? Int ?? 0) >= 2)
        }
    }
}
