import CervellaTestSupport
import ControlPlane
import Foundation
import JobProtocol
import Settings
import Testing

/// Each confidence method of report 3.3, chosen per tier, against the simulator.
@Suite(.timeLimit(.minutes(2))) struct ConfidenceMethodTests {
    func pool(_ method: TierSettings.ConfidenceMethod, aggregate: TierSettings.LogprobAggregate = .mean) async throws -> TestPool {
        try await TestPool(configure: { settings in
            settings.tiers[.tier1]?.confidenceMethod = method
            settings.tiers[.tier1]?.logprobAggregate = aggregate
        })
    }

    @Test func heuristicIgnoresLogprobsAndCatchesEvasions() async throws {
        let pool = try await pool(.heuristic)
        let unsureTokens = try await pool.ask("Summarize: tokens were unlikely.\n#sim openai logprob=-2.5", cache: false)
        let evasive = try await pool.ask("Explain the plan.\n#sim openai evasive", cache: false)
        await pool.stop()
        #expect(unsureTokens.metadata?.fallback == false)
        #expect(unsureTokens.metadata?.confidence == 1.0)
        #expect(evasive.metadata?.fallbackReason?.hasPrefix("low_confidence_") == true)
    }

    @Test func meanLogprobHidesOneBadSpanThatTheLowQuantileCatches() async throws {
        let mean = try await pool(.logprobs, aggregate: .mean)
        let kept = try await mean.ask("Explain how the queue works in detail.\n#sim openai bad_span=-2.0", cache: false)
        await mean.stop()
        let p10 = try await pool(.logprobs, aggregate: .p10)
        let caught = try await p10.ask("Explain how the queue works in detail.\n#sim openai bad_span=-2.0", cache: false)
        await p10.stop()
        #expect(kept.metadata?.fallback == false)
        #expect((kept.metadata?.confidence ?? 0) >= 0.7)
        #expect(caught.metadata?.fallback == true)
        #expect(caught.metadata?.fallbackReason == "low_confidence_0.14")
        #expect(caught.metadata?.originalConfidence == 0.135)
    }

    /// `cervella calibrate --apply` writes the table to `cervella:config`; every worker obeys it
    /// within a second, for the task types it names, and `restore` takes it away again.
    @Test func calibratedThresholdsPerTaskTypeChangeRoutingLive() async throws {
        let pool = try await pool(.auto)
        let simple = "Formatta questa lista in markdown: uno, due, tre, quattro, cinque, sei.\n#sim openai logprob=-0.3"
        let other = "Explain the plan of the quarter to the whole team.\n#sim openai logprob=-0.3"
        // Mean token probability exp(-0.3) = 0.74: over the tier's 0.70.
        let before = try await pool.ask(simple, cache: false)
        #expect(before.metadata?.tierDecisionReason == "simple_task_pattern_matched")
        #expect(before.metadata?.fallback == false && before.metadata?.confidence == 0.741)

        let store = LiveConfigStore(connection: pool.redis, keys: pool.keys)
        let table = #"{"1/simple_task_pattern_matched":{"signal":"mean","threshold":0.8,"map":[[0.5,0.3],[0.9,0.95]],"target_fallback_rate":0.3}}"#
        try await store.set(["calibration": table], by: "test")
        #expect(await pool.workersSee { !$0.calibration.isEmpty })
        let after = try await pool.ask(simple, cache: false)
        // 0.741 is under the entry's 0.8; mapped, it is 0.3 + (0.241 / 0.4) × 0.65 = 0.691.
        #expect(after.metadata?.fallback == true)
        #expect(after.metadata?.fallbackReason == "low_confidence_0.69")
        #expect(after.metadata?.originalConfidence == 0.691)
        let untouched = try await pool.ask(other, cache: false)
        #expect(untouched.metadata?.tierDecisionReason == "default_tier" && untouched.metadata?.fallback == false)
        let config = ConfigReport.json(settings: pool.settings, overrides: try await store.read())
        let shown = (config["calibration"] as? [String: Any])?["1/simple_task_pattern_matched"] as? [String: Any]
        #expect(shown?["signal"] as? String == "mean" && shown?["target_fallback_rate"] as? Double == 0.3)
        #expect(config["calibration_source"] as? String == "live")

        try await store.reset(by: "test")
        #expect(await pool.workersSee { $0.calibration.isEmpty })
        let restored = try await pool.ask(simple, cache: false)
        await pool.stop()
        #expect(restored.metadata?.fallback == false)
    }

    @Test func selfEvaluationAsksTheSameModelToRateItsAnswer() async throws {
        let pool = try await pool(.selfEval)
        let confident = try await pool.ask("Explain what a heartbeat is.", cache: false)
        #expect(confident.metadata?.confidence == 0.8)
        #expect(confident.metadata?.fallback == false)
        // One answer call and one rating call.
        #expect(pool.simulator.stats.count("/v1/chat/completions") == 2)
        let unsure = try await pool.ask("Explain what a lease is.\n#sim openai self_eval=3", cache: false)
        #expect(unsure.metadata?.fallbackReason == "low_confidence_0.30")
        #expect(unsure.metadata?.originalConfidence == 0.3)
        await pool.stop()
    }

    @Test func noneAcceptsWhateverTheSmallModelSays() async throws {
        let pool = try await pool(.none)
        let result = try await pool.ask("Explain the plan.\n#sim openai evasive", cache: false)
        await pool.stop()
        #expect(result.metadata?.fallback == false)
        #expect(result.metadata?.confidence == nil)
        // Empty answers still fall back: emptiness is a trigger of its own, not a score.
        let empty = try await self.pool(.none)
        let emptyResult = try await empty.ask("Explain the plan.\n#sim openai empty", cache: false)
        await empty.stop()
        #expect(emptyResult.metadata?.fallbackReason == "empty_response")
    }

    @Test func answerThatIsOnlyThinkingCountsAsEmpty() async throws {
        try await withTestPool(configure: { $0.tiers[.tier2]?.enabled = true }) { pool in
            // max_tokens cuts the R1 answer inside its <think> block: nothing is left to show.
            let result = try await pool.ask(
                "Why is the sky blue?\n#sim openai think", tier: 2, cache: false, params: GenerationParameters(maxTokens: 3))
            #expect(result.metadata?.fallbackReason == "empty_response")
            #expect(result.metadata?.originalModel == "deepseek-r1")
            #expect(result.response?.contains("<think>") == false)
        }
    }
}
