/// The confidence of an answer while it streams, for escalating to Claude before the small
/// model has finished (`low_confidence_early`).
///
/// It uses the signals the final score uses, as far as they can be read from a part of the
/// answer: the token logprobs so far (the configured aggregate), and the heuristic's early
/// signs (an evasive or "as an AI" opening) once there are 50 characters to read, since the
/// heuristic's short-answer penalty means nothing mid-answer. The expected-format check
/// waits for the whole answer: half a JSON object is not invalid JSON.
public struct RunningConfidence: Sendable {
    public let scorer: ConfidenceScorer
    public private(set) var text = ""
    public private(set) var logprobs: [Double] = []
    public private(set) var tokens = 0
    public private(set) var hasToolCalls = false
    private var heuristic = 1.0
    private var heuristicCheckedAt = 0

    /// Characters between two readings of the heuristic, which scans the whole text.
    static let heuristicStride = 48

    public init(scorer: ConfidenceScorer) {
        self.scorer = scorer
    }

    public mutating func add(text piece: String, logprobs values: [Double], tokens count: Int, toolCalls: Bool) {
        text += piece
        logprobs += values.filter(\.isFinite)
        tokens += max(0, count)
        hasToolCalls = hasToolCalls || toolCalls
        if text.count >= 50, text.count - heuristicCheckedAt >= Self.heuristicStride || heuristicCheckedAt == 0 {
            heuristic = ConfidenceScorer.heuristic(text, expectedFormat: nil)
            heuristicCheckedAt = text.count
        }
    }

    /// The score so far, nil while there is nothing to judge by (or the method judges only
    /// whole answers: `self_eval`, `none`).
    public var current: Double? {
        let fromLogprobs = logprobs.isEmpty ? nil : scorer.fromLogprobs(logprobs)
        let fromText = hasToolCalls || heuristicCheckedAt == 0 ? nil : heuristic
        switch scorer.method {
        case .none, .selfEval: return nil
        case .heuristic: return fromText
        case .logprobs: return fromLogprobs ?? fromText
        case .auto:
            switch (fromLogprobs, fromText) {
            case (let a?, let b?): return min(a, b)
            case (let a?, nil): return a
            case (nil, let b?): return b
            case (nil, nil): return nil
            }
        }
    }

    /// The running score when it is clearly under the threshold after enough tokens, which
    /// is when to stop the call and escalate; nil to go on. `minTokens` 0 never escalates.
    public func escalation(threshold: Double, margin: Double, minTokens: Int) -> Double? {
        guard minTokens > 0, tokens >= minTokens, let score = current, score < threshold - margin else { return nil }
        return score
    }
}
