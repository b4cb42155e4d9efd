import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Testing

/// The per-hour counters every worker adds to `cervella:stats:<YYYYMMDDHH>`: the fields the
/// admin stats read back.
@Suite struct HourlyStatsTests {
    @Test func theHourKeyIsTheUTCHour() {
        // 2026-01-10T14:23:45Z
        #expect(HourlyStats.hourKey(Date(timeIntervalSince1970: 1_768_055_025)) == "2026011014")
        #expect(HourlyStats.hourKey(Date(timeIntervalSince1970: 0)) == "1970010100")
        #expect(KeySpace(prefix: "p").stats(hour: "2026011014") == "p:stats:2026011014")
    }

    @Test func anAnswerCountsItsTierLatencyBucketConfidenceAndCost() {
        let increments = HourlyStats.increments(for: [
            .handled(tier: .tier1),
            .answered(tier: .tier1, latencyMs: 342, confidence: 0.92, costUSD: 0.0008, claudeEquivalentUSD: 0.01),
        ])
        #expect(
            increments.integers == [
                "requests:tier1": 1, "answered:tier1": 1, "latency_ms_sum:tier1": 342, "latency_le_500:tier1": 1, "confidence_count:tier1": 1,
            ])
        #expect(increments.decimals == ["confidence_sum:tier1": 0.92, "cost_usd": 0.0008, "cost_usd:tier1": 0.0008, "claude_equivalent_usd": 0.01])
    }

    @Test func latenciesFallInTheFirstBucketThatHoldsThem() {
        func bucket(_ latency: Int) -> String? {
            HourlyStats.increments(for: [.answered(tier: .tier2, latencyMs: latency, confidence: nil, costUSD: 0, claudeEquivalentUSD: 0)])
                .integers.keys.first { $0.hasPrefix("latency_le_") }
        }
        #expect(bucket(0) == "latency_le_100:tier2")
        #expect(bucket(100) == "latency_le_100:tier2")
        #expect(bucket(101) == "latency_le_250:tier2")
        #expect(bucket(10_000) == "latency_le_10000:tier2")
        #expect(bucket(10_001) == "latency_le_inf:tier2")
    }

    @Test func fallbackReasonsAreCountedByClass() {
        let increments = HourlyStats.increments(for: [
            .fellBack(tier: .tier1, reason: "low_confidence_0.55", confidence: 0.55, costUSD: 0.001),
            .fellBack(tier: .tier2, reason: "low_confidence_0.31", confidence: nil, costUSD: 0),
            .fellBack(tier: .tier1, reason: "timeout_error", confidence: nil, costUSD: 0),
        ])
        #expect(increments.integers["fallback_reason:low_confidence"] == 2)
        #expect(increments.integers["fallback_reason:timeout_error"] == 1)
        #expect(increments.integers["fallbacks:tier1"] == 2)
        #expect(increments.integers["fallbacks:tier2"] == 1)
        #expect(increments.integers["confidence_count:tier1"] == 1)
        #expect(increments.integers["confidence_count:tier2"] == nil)
        #expect(HourlyStats.reasonClass(String(repeating: "x", count: 100)).count == 48)
    }

    @Test func failuresCacheHitsAndRecoveriesHaveTheirOwnCounters() {
        let increments = HourlyStats.increments(for: [
            .failed(tier: .tier3, code: "error_http_5xx"), .cacheHit(savedUSD: 0.02), .dead, .duplicate, .recovered(count: 4), .recovered(count: 1),
        ])
        #expect(
            increments.integers == [
                "errors:tier3": 1, "error_code:error_http_5xx": 1, "cache_hits": 1, "dead": 1, "duplicate_provider_calls": 1, "recovered": 5,
            ])
        #expect(increments.decimals == ["claude_equivalent_usd": 0.02, "cache_saved_usd": 0.02])
    }

    @Test func spendIsCountedByTierAndModelAndTheFallbackCostHasBothSides() {
        let increments = HourlyStats.increments(for: [
            .fellBack(tier: .tier1, reason: "low_confidence_0.4", confidence: 0.4, costUSD: 0.0003),
            .spent(
                CallSpend(tier: .tier1, model: "qwen3-4b", outcome: .discarded, fallbackHop: false, inputTokens: 0, outputTokens: 0, costUSD: 0.0003)),
            .spent(
                CallSpend(
                    tier: .tier1, model: "qwen3-4b", outcome: .answered, fallbackHop: false, inputTokens: 75, outputTokens: 210, costUSD: 0.0003)),
            .spent(
                CallSpend(tier: .tier3, model: "claude-x", outcome: .answered, fallbackHop: true, inputTokens: 80, outputTokens: 300, costUSD: 0.0047)
            ),
            .spent(
                CallSpend(tier: .tier3, model: "claude-x", outcome: .cancelled, fallbackHop: false, inputTokens: 0, outputTokens: 0, costUSD: 0.001)),
        ])
        #expect(
            increments.integers == [
                "fallbacks:tier1": 1, "fallback_reason:low_confidence": 1, "confidence_count:tier1": 1,
                "model_calls:tier1:qwen3-4b": 2, "model_answered:tier1:qwen3-4b": 1,
                "model_tokens_input:tier1:qwen3-4b": 75, "model_tokens_output:tier1:qwen3-4b": 210,
                "model_calls:tier3:claude-x": 2, "model_answered:tier3:claude-x": 1,
                "model_tokens_input:tier3:claude-x": 80, "model_tokens_output:tier3:claude-x": 300,
            ])
        #expect(abs((increments.decimals["model_cost_usd:tier1:qwen3-4b"] ?? 0) - 0.0006) < 1e-12)
        #expect(abs((increments.decimals["model_cost_usd:tier3:claude-x"] ?? 0) - 0.0057) < 1e-12)
        // The discarded attempt and Claude's answer of the hop; not the cancelled call.
        #expect(abs((increments.decimals["fallback_cost_usd"] ?? 0) - 0.005) < 1e-12)
    }

    @Test func aModelNameIsCutSoTheFieldStaysBounded() {
        let long = String(repeating: "m", count: 500)
        let increments = HourlyStats.increments(for: [
            .spent(CallSpend(tier: .tier2, model: long, outcome: .answered, fallbackHop: false, inputTokens: -5, outputTokens: 1, costUSD: 0))
        ])
        let fields = Array(increments.integers.keys)
        #expect(fields.allSatisfy { $0.count <= "model_tokens_output:tier2:".count + HourlyStats.maxModelNameLength })
        // A negative token count (a hostile provider reply) adds nothing.
        #expect(increments.integers[HourlyStats.modelField("model_tokens_input", tier: .tier2, model: long)] == 0)
    }

    @Test func hostileNumbersNeitherTrapNorPoisonTheSums() {
        let increments = HourlyStats.increments(for: [
            .answered(tier: .tier1, latencyMs: .max, confidence: .nan, costUSD: .infinity, claudeEquivalentUSD: 0),
            .answered(tier: .tier1, latencyMs: 5, confidence: nil, costUSD: 0, claudeEquivalentUSD: 0),
        ])
        #expect(increments.integers["latency_ms_sum:tier1"] == .max)
        #expect(increments.decimals["cost_usd"] == nil)
        #expect(increments.decimals["confidence_sum:tier1"] == nil)
        var merged = increments
        merged.merge(increments)
        #expect(merged.integers["latency_ms_sum:tier1"] == .max)
        #expect(merged.integers["answered:tier1"] == 4)
    }

    @Test func incrementsBecomeSortedHashCommandsAndTheRetention() {
        var increments = HourlyStats.Increments()
        increments.integers = ["b": 2, "a": 1, "zero": 0]
        increments.decimals = ["cost_usd": 0.5]
        let commands = HourlyStats.commands(for: increments, keys: KeySpace(prefix: "p"), hour: "2026011014")
        let text = commands.map { $0.arguments.map { String(decoding: $0, as: UTF8.self) } }
        #expect(
            text == [
                ["HINCRBY", "p:stats:2026011014", "a", "1"],
                ["HINCRBY", "p:stats:2026011014", "b", "2"],
                ["HINCRBYFLOAT", "p:stats:2026011014", "cost_usd", "0.500000000"],
                ["EXPIRE", "p:stats:2026011014", String(35 * 24 * 3600)],
            ])
        #expect(HourlyStats.commands(for: HourlyStats.Increments(), keys: KeySpace(), hour: "2026011014").isEmpty)
    }
}
