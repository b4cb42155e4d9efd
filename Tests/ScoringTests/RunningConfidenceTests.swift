import Scoring
import Settings
import Testing

/// The confidence of a streaming answer, which may escalate it to Claude before it ends.
@Suite struct RunningConfidenceTests {
    static let auto = ConfidenceScorer(method: .auto)

    @Test func confidentTokensNeverEscalate() {
        var running = RunningConfidence(scorer: Self.auto)
        for _ in 0..<40 { running.add(text: "word ", logprobs: [-0.05], tokens: 1, toolCalls: false) }
        #expect(running.escalation(threshold: 0.7, margin: 0.15, minTokens: 24) == nil)
        #expect((running.current ?? 0) > 0.9)
    }

    @Test func unsureTokensEscalateOnlyAfterTheMinimum() {
        var running = RunningConfidence(scorer: Self.auto)
        for index in 1...30 {
            running.add(text: "word ", logprobs: [-2.5], tokens: 1, toolCalls: false)
            let escalation = running.escalation(threshold: 0.7, margin: 0.15, minTokens: 24)
            #expect((escalation != nil) == (index >= 24), "token \(index)")
        }
    }

    @Test func aScoreJustUnderTheThresholdIsNotClearlyUnder() {
        var running = RunningConfidence(scorer: Self.auto)
        // exp(-0.43) ≈ 0.65: under 0.70, but not under 0.70 - 0.15.
        for _ in 0..<30 { running.add(text: "word ", logprobs: [-0.43], tokens: 1, toolCalls: false) }
        #expect(running.escalation(threshold: 0.7, margin: 0.15, minTokens: 24) == nil)
        #expect(running.escalation(threshold: 0.7, margin: 0, minTokens: 24) != nil)
    }

    @Test func anEvasiveOpeningEscalatesWithoutLogprobs() {
        var running = RunningConfidence(scorer: ConfidenceScorer(method: .heuristic))
        let opening = "I'm not sure, but perhaps the answer could be something like this, as far as I can tell today"
        for word in opening.split(separator: " ") { running.add(text: word + " ", logprobs: [], tokens: 1, toolCalls: false) }
        // The heuristic's evasive factor: 0.6, under 0.70 - 0.05.
        #expect(running.escalation(threshold: 0.7, margin: 0.05, minTokens: 10) == 0.6)
    }

    @Test func shortTextIsNotJudgedByTheHeuristicAndZeroMinimumNeverEscalates() {
        var running = RunningConfidence(scorer: ConfidenceScorer(method: .heuristic))
        running.add(text: "Maybe.", logprobs: [], tokens: 30, toolCalls: false)
        #expect(running.current == nil)
        var unsure = RunningConfidence(scorer: Self.auto)
        for _ in 0..<50 { unsure.add(text: "x ", logprobs: [-3], tokens: 1, toolCalls: false) }
        #expect(unsure.escalation(threshold: 0.7, margin: 0.15, minTokens: 0) == nil)
    }

    @Test func wholeAnswerMethodsHaveNoRunningScore() {
        for method in [TierSettings.ConfidenceMethod.selfEval, .none] {
            var running = RunningConfidence(scorer: ConfidenceScorer(method: method))
            for _ in 0..<50 { running.add(text: "perhaps ", logprobs: [-3], tokens: 1, toolCalls: false) }
            #expect(running.escalation(threshold: 0.7, margin: 0.15, minTokens: 1) == nil)
        }
    }
}
