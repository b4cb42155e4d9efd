import Foundation
import JobProtocol

/// Decides whether a tier-1/2 answer goes back to the user or to Claude (report 3.4).
///
/// The triggers, in the report's order: an error, latency over the limit, confidence under the
/// tier's threshold, an empty answer. Each yields the report's reason string.
public struct FallbackPolicy: Sendable {
    public var confidenceThreshold: Double
    public var latencyLimitMs: Int

    public init(confidenceThreshold: Double, latencyLimitMs: Int) {
        self.confidenceThreshold = confidenceThreshold
        self.latencyLimitMs = latencyLimitMs
    }

    public enum Decision: Sendable, Equatable {
        case accept
        case fallback(reason: String)
    }

    /// `errorReason` is the provider error's reason (`timeout_error`, `error_http_5xx`, …).
    ///
    /// `hasToolCalls`: the answer is a set of tool calls (its text may be empty);
    /// `structureProblem`: why it does not hold the structure the job asked for
    /// (`StructuredAnswer`), checked after latency and before confidence.
    ///
    /// `lowConfidence`: a calibrated gate's own verdict on the confidence (its threshold is on
    /// the raw signal, `CalibrationTable.Entry`); nil compares `confidence` to the threshold.
    public func decide(
        answer: String?, confidence: Double?, latencyMs: Int, errorReason: String?, hasToolCalls: Bool = false, structureProblem: String? = nil,
        lowConfidence: Bool? = nil
    ) -> Decision {
        if let errorReason { return .fallback(reason: errorReason) }
        if latencyMs > latencyLimitMs { return .fallback(reason: "latency_timeout") }
        guard let answer, !answer.isBlank || hasToolCalls else {
            return .fallback(reason: "empty_response")
        }
        if let structureProblem { return .fallback(reason: structureProblem) }
        if let confidence, lowConfidence ?? (confidence < confidenceThreshold) {
            return .fallback(reason: "low_confidence_\(String(format: "%.2f", confidence))")
        }
        return .accept
    }
}
