import JobProtocol
import Scoring

/// What a worker does with a provider call's outcome: the decision part of
/// `Worker.decide`, apart from its I/O, so the whole table is testable without Redis.
///
/// Tiers 1 and 2 consult the fallback policy (report 3.4). A fallback is taken only when both
/// the live switch and the job allow it; otherwise the small model's answer is kept, and the
/// reason it would have fallen back is reported as `fallback_suppressed` (and the answer is
/// not cached). Claude (tier 3, the fallback queue) has no fallback: an error is the result.
enum Verdict: Equatable, Sendable {
    /// Push the job to the Claude fallback queue, with this reason.
    case fallBack(reason: String)
    /// Reply with the answer; `suppressed` is the fallback reason that was overruled.
    case answer(suppressed: String?)
    /// Reply with the provider's error.
    case fail

    struct Inputs: Sendable {
        /// A tier-1/2 job (not Claude, not a fallback hop).
        var smallTier: Bool
        /// The answer text, nil when the call failed.
        var answer: String?
        /// The answer is a set of tool calls (its text may be empty).
        var hasToolCalls = false
        /// Why the answer does not hold the structure the job asked for (`StructuredAnswer`).
        var structureProblem: String?
        var confidence: Double?
        /// A calibrated gate's verdict on the confidence; nil: the policy's threshold decides.
        var lowConfidence: Bool? = nil
        var latencyMs: Int
        /// The provider error's fallback reason (`timeout_error`, `error_http_5xx`, …).
        var errorReason: String?
        var policy: FallbackPolicy
        /// The operator's live switch (`cervella admin`, `ENABLE_FALLBACK`).
        var fallbackEnabled: Bool
        /// The job's own `enable_fallback`.
        var jobAllowsFallback: Bool
    }

    static func decide(_ inputs: Inputs) -> Verdict {
        var suppressed: String?
        if inputs.smallTier,
            case .fallback(let reason) = inputs.policy.decide(
                answer: inputs.answer, confidence: inputs.confidence, latencyMs: inputs.latencyMs, errorReason: inputs.errorReason,
                hasToolCalls: inputs.hasToolCalls, structureProblem: inputs.structureProblem, lowConfidence: inputs.lowConfidence)
        {
            if inputs.fallbackEnabled && inputs.jobAllowsFallback { return .fallBack(reason: reason) }
            suppressed = reason
        }
        guard inputs.answer != nil else { return .fail }
        return .answer(suppressed: suppressed)
    }

    /// Only accepted answers are cached: not empty ones, not ones kept despite a fallback reason.
    static func isCacheable(_ verdict: Verdict, answer: String, hasToolCalls: Bool = false) -> Bool {
        verdict == .answer(suppressed: nil) && (!answer.isBlank || hasToolCalls)
    }
}
