import Scoring
import Testing

@testable import WorkerPool

/// The worker's decision table (report 3.4), without Redis or a provider.
@Suite struct VerdictTests {
    static let policy = FallbackPolicy(confidenceThreshold: 0.7, latencyLimitMs: 10_000)

    static func inputs(
        smallTier: Bool = true, answer: String? = "A fine answer.", confidence: Double? = 0.9, latencyMs: Int = 300,
        errorReason: String? = nil, fallbackEnabled: Bool = true, jobAllowsFallback: Bool = true
    ) -> Verdict.Inputs {
        Verdict.Inputs(
            smallTier: smallTier, answer: answer, confidence: confidence, latencyMs: latencyMs, errorReason: errorReason,
            policy: policy, fallbackEnabled: fallbackEnabled, jobAllowsFallback: jobAllowsFallback
        )
    }

    @Test(arguments: [
        (inputs(), Verdict.answer(suppressed: nil)),
        (inputs(confidence: 0.55), .fallBack(reason: "low_confidence_0.55")),
        (inputs(answer: "  "), .fallBack(reason: "empty_response")),
        (inputs(latencyMs: 10_001), .fallBack(reason: "latency_timeout")),
        (inputs(answer: nil, errorReason: "timeout_error"), .fallBack(reason: "timeout_error")),
        // The operator's switch or the job keeps the small model's answer, and says why it would have gone.
        (inputs(confidence: 0.55, fallbackEnabled: false), .answer(suppressed: "low_confidence_0.55")),
        (inputs(confidence: 0.55, jobAllowsFallback: false), .answer(suppressed: "low_confidence_0.55")),
        // No answer and no fallback allowed: the error is the result.
        (inputs(answer: nil, errorReason: "error_http_5xx", jobAllowsFallback: false), .fail),
        // Claude has no fallback: its low confidence is not judged, its error is final.
        (inputs(smallTier: false, confidence: 0.1), .answer(suppressed: nil)),
        (inputs(smallTier: false, answer: nil, errorReason: "error_http_5xx"), .fail),
    ])
    func eachRowOfTheTable(inputs: Verdict.Inputs, expected: Verdict) {
        #expect(Verdict.decide(inputs) == expected)
    }

    @Test func onlyAcceptedNonBlankAnswersAreCached() {
        #expect(Verdict.isCacheable(.answer(suppressed: nil), answer: "ok"))
        #expect(!Verdict.isCacheable(.answer(suppressed: "low_confidence_0.55"), answer: "ok"))
        #expect(!Verdict.isCacheable(.answer(suppressed: nil), answer: " \n"))
        #expect(!Verdict.isCacheable(.fail, answer: "ok"))
    }
}
