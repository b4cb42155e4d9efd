import CervellaTestSupport
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
