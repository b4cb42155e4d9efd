import Scoring

/// A judge's score of one answer, or why there is none.
public struct POCJudgement: Sendable, Equatable {
    /// 1–5; nil when the judge could not score the answer (`error` says why).
    public var score: Int?
    public var reason: String?
    public var error: String?
    /// What the judge's call cost (0 for a human judge).
    public var costUSD: Double

    public init(score: Int? = nil, reason: String? = nil, error: String? = nil, costUSD: Double = 0) {
        self.score = score
        self.reason = reason
        self.error = error
        self.costUSD = costUSD
    }
}

/// What one model did with one task: its answer or its error, how long it took, its tokens,
/// its cost, and the judge's score.
public struct POCAnswer: Sendable, Equatable {
    public var model: String
    /// Nil when the call failed.
    public var text: String?
    /// The provider's error, one line (never the request's text).
    public var error: String?
    public var latencyMs: Int
    public var tokensInput = 0
    public var tokensOutput = 0
    public var tokensCachedInput = 0
    /// The small model's token logprobs, when its engine returned them.
    public var tokenLogprobs: [Double]?
    /// The call's cost by its tier's pricing (a failed call on a self-hosted tier still used
    /// the GPU, as the worker counts it).
    public var costUSD: Double
    /// Nil when nothing was judged (no answer, or a human judge without a score for it).
    public var judgement: POCJudgement?

    public init(model: String, text: String?, error: String?, latencyMs: Int, costUSD: Double) {
        self.model = model
        self.text = text
        self.error = error
        self.latencyMs = latencyMs
        self.costUSD = costUSD
    }

    /// The judge gave it 4 or 5 (`LabelledOutcome.isGood(score:)`, the report's pass).
    public var passed: Bool { judgement?.score.map(LabelledOutcome.isGood(score:)) ?? false }
}

/// One task's side-by-side comparison.
public struct POCResult: Sendable, Equatable {
    public var task: POCTask
    public var small: POCAnswer
    public var claude: POCAnswer
    /// The small model's answer's confidence features and the gate's score of it, as the
    /// tier's `confidence_method` computes it; nil without an answer.
    public var features: ConfidenceFeatures?
    public var confidence: Double?

    public init(task: POCTask, small: POCAnswer, claude: POCAnswer, features: ConfidenceFeatures? = nil, confidence: Double? = nil) {
        self.task = task
        self.small = small
        self.claude = claude
        self.features = features
        self.confidence = confidence
    }
}
