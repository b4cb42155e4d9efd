import CervellaTestSupport
import ControlPlane
import Foundation
import JobProtocol
import ProviderSimulator
import RedisClient
import Settings
import Testing

@testable import WorkerPool

/// The escalation budget: Claude spend on fallbacks capped per hour and per day, reserved in
/// Redis before each call so concurrent fallbacks cannot overshoot, and degraded in order.
@Suite(.timeLimit(.minutes(3))) struct EscalationBudgetTests {
    static let maxTokens = 200

    static func lowConfidence(_ index: Int) -> String {
        // The same length for every job, so every reservation is the same.
        "Summarize note \(String(format: "%03d", index)) in one line.\n#sim openai logprob=-3"
    }

    /// 200 low-confidence answers fall back at once against an hourly cap room for about 20:
    /// the spend never passes the cap, and the rest are returned as they are, saying why.
    @Test func theCapHoldsUnder200ConcurrentFallbacks() async throws {
        try await withTestPool(configure: { $0.worker.concurrency = 200 }) { pool in
            let probe = try pool.job(Self.lowConfidence(0), tier: 1, cache: false, params: GenerationParameters(maxTokens: Self.maxTokens))
            let reservation = EscalationBudget.reservationUSD(for: probe, settings: pool.settings)
            let cap = reservation * 20.5
            try await LiveConfigStore(connection: pool.redis, keys: pool.keys).set(["fallback_hourly_usd": String(cap)], by: "test")
            #expect(await pool.workersSee { $0.fallbackHourlyUSD == cap })
            pool.simulator.stats.reset()

            let results = try await withThrowingTaskGroup(of: JobResult.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        try await pool.ask(Self.lowConfidence(index), tier: 1, cache: false, params: GenerationParameters(maxTokens: Self.maxTokens))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 200 && results.allSatisfy(\.ok))
            let escalated = results.filter { $0.metadata?.fallback == true }
            let held = results.filter { $0.metadata?.fallbackSuppressed == "budget" }
            #expect(escalated.count + held.count == 200)
            #expect(escalated.count >= 20 && escalated.count < 200)
            #expect(held.allSatisfy { $0.metadata?.tier == 1 && !($0.response ?? "").isEmpty })
            // Claude was called once per escalation, and what those calls cost stayed under the cap.
            #expect(pool.simulator.stats.count(SimulatorStats.messages) == escalated.count)
            let hour = UTCTime(Date()).hourStamp
            let spent = try await pool.redis.send("GET", RedisArgument(pool.keys.budgetSpent(hour))).string.flatMap(Double.init) ?? 0
            let reserved = try await pool.redis.send("GET", RedisArgument(pool.keys.budgetReserved(hour))).string.flatMap(Double.init) ?? 0
            #expect(spent / 1_000_000 <= cap)
            #expect(reserved == 0)
            let claudeCost = escalated.reduce(0.0) { sum, result in
                let metadata = result.metadata!
                let small = pool.settings.tier(.tier1).costUSD(inputTokens: 0, outputTokens: 0)
                return sum + metadata.costUSD - small
            }
            #expect(abs(claudeCost - spent / 1_000_000) < 0.000_01 * Double(escalated.count))
            try await pool.settleStats()
            let stats = RedisArgument(pool.keys.stats(hour: HourlyStats.hourKey(Date())))
            #expect(try await pool.redis.send("HGET", stats, "fallback_suppressed:budget").integer == held.count)
            let report = try await CostReport.load(connection: pool.redis, keys: pool.keys, period: .daily, day: Date(), settings: pool.settings)
            #expect(report.fallbacksSuppressedByBudget == Double(held.count))
        }
    }

    /// Near the cap only what matters most escalates: errors, and the lowest confidence first;
    /// past it low-confidence answers stay, errors go on up to the hard cap, then stop too.
    @Test func itDegradesInTheDocumentedOrder() async throws {
        try await withTestPool { pool in
            let cap = 1.0
            try await LiveConfigStore(connection: pool.redis, keys: pool.keys).set(["fallback_hourly_usd": "1"], by: "test")
            #expect(await pool.workersSee { $0.fallbackHourlyUSD == cap })
            let spentKey = RedisArgument(pool.keys.budgetSpent(UTCTime(Date()).hourStamp))
            func ask(_ directive: String, _ index: Int) async throws -> JobResult {
                try await pool.ask("Summarize item \(index).\n#sim openai \(directive)", tier: 1, cache: false)
            }
            // 85% used: near the cap.
            try await pool.redis.send("SET", spentKey, "850000")
            #expect(try await ask("status=503", 1).metadata?.fallback == true)
            #expect(try await ask("logprob=-6", 2).metadata?.fallback == true)
            let mild = try await ask("logprob=-0.6", 3)
            #expect(mild.metadata?.fallback == false && mild.metadata?.fallbackSuppressed == "budget")
            // 105%: over the cap, under the hard cap.
            try await pool.redis.send("SET", spentKey, "1050000")
            let lowest = try await ask("logprob=-6", 4)
            #expect(lowest.metadata?.fallback == false && lowest.metadata?.fallbackSuppressed == "budget")
            #expect(try await ask("status=503", 5).metadata?.fallback == true)
            // 125%: past the hard cap, an error is the result and says why.
            try await pool.redis.send("SET", spentKey, "1250000")
            let failed = try await ask("status=503", 6)
            #expect(failed.ok == false && failed.error?.message.contains("escalation budget") == true)
            // Without a cap, everything escalates again.
            try await LiveConfigStore(connection: pool.redis, keys: pool.keys).set(["fallback_hourly_usd": "0"], by: "test")
            #expect(await pool.workersSee { $0.fallbackHourlyUSD == 0 })
            #expect(try await ask("logprob=-0.6", 7).metadata?.fallback == true)
        }
    }

    @Test func theShareAFallbackMayUseFollowsItsReason() {
        let budget = CervellaSettings.Budget()
        #expect(EscalationBudget.allowedShare(reason: "error_http_5xx", confidence: nil, threshold: 0.7, budget: budget) == 1.2)
        #expect(EscalationBudget.allowedShare(reason: "empty_response", confidence: nil, threshold: 0.7, budget: budget) == 1.2)
        #expect(EscalationBudget.allowedShare(reason: "low_confidence_early", confidence: 0.3, threshold: 0.7, budget: budget) == 1.2)
        let lowest = EscalationBudget.allowedShare(reason: "low_confidence_0.00", confidence: 0, threshold: 0.7, budget: budget)
        let mild = EscalationBudget.allowedShare(reason: "low_confidence_0.65", confidence: 0.65, threshold: 0.7, budget: budget)
        #expect(lowest == 1 && mild > 0.8 && mild < 0.82)
        #expect(!EscalationBudget.counts(reason: "tier1_disabled") && !EscalationBudget.counts(reason: "tier1_outside_window"))
        #expect(EscalationBudget.counts(reason: "timeout_error"))
    }
}
