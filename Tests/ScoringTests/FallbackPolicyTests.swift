import Scoring
import Testing

@Suite struct FallbackPolicyTests {
    static let policy = FallbackPolicy(confidenceThreshold: 0.70, latencyLimitMs: 10_000)
    static let goodAnswer = "La capitale dell'Australia è Canberra, non Sydney come molti credono."

    @Test func confidentTimelyAnswerIsAccepted() {
        #expect(Self.policy.decide(answer: Self.goodAnswer, confidence: 0.92, latencyMs: 340, errorReason: nil) == .accept)
    }

    @Test func errorComesFirstAndKeepsItsReason() {
        // Every other trigger is also present; the error still wins.
        let decision = Self.policy.decide(answer: "", confidence: 0.1, latencyMs: 60_000, errorReason: "timeout_error")
        #expect(decision == .fallback(reason: "timeout_error"))
        #expect(
            Self.policy.decide(answer: Self.goodAnswer, confidence: 0.99, latencyMs: 10, errorReason: "error_http_5xx")
                == .fallback(reason: "error_http_5xx"))
    }

    @Test func latencyOverTheLimitFallsBackBeforeContentIsJudged() {
        #expect(
            Self.policy.decide(answer: Self.goodAnswer, confidence: 0.99, latencyMs: 10_001, errorReason: nil) == .fallback(reason: "latency_timeout")
        )
        #expect(Self.policy.decide(answer: nil, confidence: 0.1, latencyMs: 10_001, errorReason: nil) == .fallback(reason: "latency_timeout"))
    }

    @Test func latencyExactlyAtTheLimitIsAllowed() {
        #expect(Self.policy.decide(answer: Self.goodAnswer, confidence: 0.9, latencyMs: 10_000, errorReason: nil) == .accept)
    }

    @Test(arguments: [nil, "", "   ", "\n\t\n"] as [String?])
    func emptyAnswerIsReportedAsEmptyEvenThoughItsConfidenceIsLow(answer: String?) {
        #expect(Self.policy.decide(answer: answer, confidence: 0.0, latencyMs: 100, errorReason: nil) == .fallback(reason: "empty_response"))
        #expect(Self.policy.decide(answer: answer, confidence: nil, latencyMs: 100, errorReason: nil) == .fallback(reason: "empty_response"))
    }

    @Test(arguments: [
        (0.55, "low_confidence_0.55"),
        (0.5, "low_confidence_0.50"),
        (0.0, "low_confidence_0.00"),
        (0.123, "low_confidence_0.12"),
        (0.42, "low_confidence_0.42"),
        (0.699, "low_confidence_0.70"),
    ])
    func lowConfidenceReasonCarriesTheScoreWithTwoDecimals(confidence: Double, reason: String) {
        #expect(Self.policy.decide(answer: Self.goodAnswer, confidence: confidence, latencyMs: 100, errorReason: nil) == .fallback(reason: reason))
    }

    @Test func confidenceExactlyAtTheThresholdIsAccepted() {
        #expect(Self.policy.decide(answer: Self.goodAnswer, confidence: 0.70, latencyMs: 100, errorReason: nil) == .accept)
        #expect(Self.policy.decide(answer: Self.goodAnswer, confidence: 0.6999999, latencyMs: 100, errorReason: nil) != .accept)
    }

    @Test func unscoredAnswerIsAccepted() {
        #expect(Self.policy.decide(answer: Self.goodAnswer, confidence: nil, latencyMs: 100, errorReason: nil) == .accept)
    }

    @Test func zeroThresholdAcceptsAnyNonEmptyAnswer() {
        let policy = FallbackPolicy(confidenceThreshold: 0, latencyLimitMs: 10_000)
        #expect(policy.decide(answer: "x", confidence: 0, latencyMs: 1, errorReason: nil) == .accept)
    }

    @Test func thresholdComesFromTheTier() {
        let strict = FallbackPolicy(confidenceThreshold: 0.9, latencyLimitMs: 10_000)
        #expect(strict.decide(answer: Self.goodAnswer, confidence: 0.85, latencyMs: 1, errorReason: nil) == .fallback(reason: "low_confidence_0.85"))
        let lenient = FallbackPolicy(confidenceThreshold: 0.3, latencyLimitMs: 10_000)
        #expect(lenient.decide(answer: Self.goodAnswer, confidence: 0.35, latencyMs: 1, errorReason: nil) == .accept)
    }

    /// A short evasive Italian answer scored by the heuristic goes to Claude with its score in the reason.
    @Test func heuristicScoreOfAnEvasiveShortAnswerTriggersLowConfidence() {
        let answer = "Forse è Canberra."
        let confidence = ConfidenceScorer(method: .auto).score(answer: answer, tokenLogprobs: nil, expectedFormat: nil)
        #expect(
            Self.policy.decide(answer: answer, confidence: confidence, latencyMs: 200, errorReason: nil) == .fallback(reason: "low_confidence_0.42"))
    }

    /// A short but plain answer scores 0.7, exactly the default threshold, and is kept.
    @Test func shortPlainAnswerAtTheDefaultThresholdIsKept() {
        let answer = "Canberra."
        let confidence = ConfidenceScorer(method: .heuristic).score(answer: answer, tokenLogprobs: nil, expectedFormat: nil)
        #expect(Self.policy.decide(answer: answer, confidence: confidence, latencyMs: 200, errorReason: nil) == .accept)
    }
}
