import CervellaTestSupport
import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Testing

/// Live switches, rollback, statistics and cost, through real workers and Redis.
@Suite(.timeLimit(.minutes(2))) struct ControlTests {
    @Test func rollbackSendsWaitingTierOneJobsToClaudeWithinASecond() async throws {
        try await withTestPool(workers: 0) { pool in
            // 100 tier-1 jobs wait in the queue before any worker runs. (500 took 3 s alone and
            // over 70 s within the whole suite, past their deadline.)
            let jobs = try (0..<100).map { try pool.job("Summarize record \($0).", cache: false, timeout: 120) }
            for job in jobs { _ = try await pool.producer.enqueue(job) }
            let store = LiveConfigStore(connection: pool.redis, keys: pool.keys)
            try await store.emergencyRollback(by: "test")
            let rolledBackAt = Date()
            try await Task.sleep(for: .seconds(1))
            pool.simulator.stats.reset()
            // A worker started now must not call the small model for any of them.
            try await pool.startWorkers(1)
            var models: [String: Int] = [:]
            for job in jobs {
                let result = try await pool.producer.waitForResult(job)
                #expect(result.ok)
                models[result.metadata?.modelUsed ?? "none", default: 0] += 1
                #expect(result.metadata?.fallbackReason == "tier1_disabled")
            }
            #expect(models == ["claude-sonnet-4-5": 100])
            #expect(pool.simulator.stats.count("/v1/chat/completions") == 0)
            #expect(Date().timeIntervalSince(rolledBackAt) < 120)
        }
    }

    @Test func runningWorkersObeyATierSwitchOnceTheyReadIt() async throws {
        try await withTestPool { pool in
            let before = try await pool.ask("Summarize the first note.", cache: false)
            #expect(before.metadata?.modelUsed == "qwen3-4b")
            let store = LiveConfigStore(connection: pool.redis, keys: pool.keys)
            try await store.set(["tier1_enabled": "false"], by: "test")
            #expect(await pool.workersSee { !$0.isEnabled(.tier1) })
            pool.simulator.stats.reset()
            // A job routed to tier 1 before the switch (as by a producer that has not seen it yet).
            let stale = try pool.job("Summarize the second note.", tier: 1, cache: false)
            let after = try await pool.producer.submit(stale)
            #expect(after.metadata?.modelUsed == "claude-sonnet-4-5")
            #expect(pool.simulator.stats.count("/v1/chat/completions") == 0)
            try await store.set(["tier1_enabled": "true"], by: "test")
            #expect(await pool.workersSee { $0.isEnabled(.tier1) })
            let again = try await pool.ask("Summarize the third note.", cache: false)
            #expect(again.metadata?.modelUsed == "qwen3-4b")
        }
    }

    @Test func fallbackSwitchOffReturnsTheSmallModelsAnswerFlagged() async throws {
        try await withTestPool { pool in
            try await LiveConfigStore(connection: pool.redis, keys: pool.keys).set(["fallback_enabled": "off"], by: "test")
            #expect(await pool.workersSee { !$0.fallbackEnabled })
            let result = try await pool.ask("Is it going to rain?\n#sim openai evasive")
            let metadata = try #require(result.metadata)
            #expect(metadata.modelUsed == "qwen3-4b")
            #expect(metadata.fallback == false)
            #expect(metadata.fallbackSuppressed?.hasPrefix("low_confidence_") == true)
            // An answer kept despite its low confidence is not cached.
            #expect(try await pool.redis.send("KEYS", RedisArgument(pool.keys.cache("*"))).array?.isEmpty == true)
        }
    }

    @Test func modelHealthComesFromTheWorkersProbes() async throws {
        // Tier 1: a primary that refuses connections and a healthy backup. Tier 2: only down.
        try await withTestPool(configure: { settings in
            let simulator = settings.tier(.tier1).endpoints[0]
            settings.tiers[.tier1]?.endpoints = ["http://127.0.0.1:1", simulator]
            settings.tiers[.tier2]?.endpoints = ["http://127.0.0.1:1"]
        }) { pool in
            var health: [String: String] = [:]
            for _ in 0..<40 where health["qwen3-4b"] != "degraded" {
                try await Task.sleep(for: .milliseconds(100))
                let report = try await StatsReport.load(connection: pool.redis, keys: pool.keys)
                health = report.json(settings: pool.settings)["models_health"] as? [String: String] ?? [:]
            }
            #expect(health["qwen3-4b"] == "degraded")
            #expect(health["claude-sonnet-4-5"] == "healthy")
            // One failed probe of the only endpoint: not yet down (the circuit opens after three).
            #expect(health["deepseek-r1"] == "degraded")
            // The backup still answers.
            let result = try await pool.ask("Summarize: backup hosts.", cache: false)
            #expect(result.metadata?.modelUsed == "qwen3-4b")
        }
    }

    @Test func costsAddUpToTokensAndPricesIncludingTheDiscardedAttempt() async throws {
        try await withTestPool { pool in
            let tier1 = pool.settings.tier(.tier1)
            let claude = pool.settings.tier(.tier3)
            let direct = try await pool.ask("Summarize: costs are tokens times prices.", cache: false)
            let claudeDirect = try await pool.ask("Explain prices.", tier: 3, cache: false)
            let fellBack = try await pool.ask("Explain prices again.\n#sim openai evasive", cache: false)
            let d = try #require(direct.metadata), c = try #require(claudeDirect.metadata), f = try #require(fellBack.metadata)
            // Self-hosted: one GPU hour spread over its requests.
            #expect(abs(d.costUSD - tier1.gpuHourUSD / tier1.requestsPerGPUHour) < 1e-9)
            // Claude: per-million token prices.
            #expect(abs(c.costUSD - (Double(c.tokensInput) * 3 + Double(c.tokensOutput) * 15) / 1e6) < 1e-9)
            // A fallback pays for Claude and for the small model's discarded attempt.
            let expected = claude.costUSD(inputTokens: f.tokensInput, outputTokens: f.tokensOutput) + tier1.gpuHourUSD / tier1.requestsPerGPUHour
            #expect(abs(f.costUSD - expected) < 1e-9)

            try await pool.settleStats()
            let report = try await StatsReport.load(connection: pool.redis, keys: pool.keys)
            let json = report.json(settings: pool.settings)
            let total = try #require(json["cost_24h_usd"] as? Double)
            #expect(abs(total - (d.costUSD + c.costUSD + f.costUSD)) < 1e-4)
            let requests = try #require(json["requests_24h"] as? [String: Int])
            #expect(requests == ["total": 3, "tier_1": 2, "tier_2": 0, "tier_3": 1])
            let rates = try #require(json["fallback_rate"] as? [String: Any])
            #expect(rates["tier_1"] as? Double == 0.5)
            #expect((json["fallback_reasons"] as? [String: Int]) == ["low_confidence": 1])
        }
    }

    @Test func countedStatsSurviveAFailedFlushAndAddUp() async throws {
        try await withTestPool(workers: 0) { pool in
            let stats = StatsAccumulator()
            let at = Date()
            stats.add(
                [.handled(tier: .tier1), .answered(tier: .tier1, latencyMs: 120, confidence: 0.9, costUSD: 0.001, claudeEquivalentUSD: 0.01)], at: at)
            let closed = RedisConnection(configuration: try RedisConfiguration(url: pool.settings.redis.url), name: "closed")
            closed.close()
            await #expect(throws: (any Error).self) { try await stats.flush(to: closed, keys: pool.keys) }
            stats.add([.handled(tier: .tier1), .cacheHit(savedUSD: 0.01)], at: at)
            try await stats.flush(to: pool.redis, keys: pool.keys)
            let hour = RedisArgument(pool.keys.stats(hour: HourlyStats.hourKey(at)))
            #expect(try await pool.redis.send("HGET", hour, "requests:tier1").string == "2")
            #expect(try await pool.redis.send("HGET", hour, "answered:tier1").string == "1")
            #expect(try await pool.redis.send("HGET", hour, "cache_hits").string == "1")
            #expect(try await pool.redis.send("TTL", hour).integer ?? 0 > 0)
            // Nothing left to write: a second flush changes nothing.
            try await stats.flush(to: pool.redis, keys: pool.keys)
            #expect(try await pool.redis.send("HGET", hour, "requests:tier1").string == "2")
        }
    }
}
