/// One way to turn an answer's confidence features into a raw figure: what `cervella
/// calibrate` compares and what a calibration entry names (`ConfidenceFeatures.value`).
public enum ConfidenceSignal: String, Sendable, CaseIterable, Codable {
    /// exp(mean token logprob), the default aggregate.
    case mean
    /// exp of a low quantile of the token logprobs (nearest rank).
    case p25, p10, p05
    /// The least likely token's probability.
    case min
    /// exp(mean of the worst 10% of token logprobs).
    case tail
    /// The report's heuristic alone.
    case heuristic
    /// The lower of the heuristic and `mean`: `confidence_method = "auto"` before calibration.
    case combined

    /// Whether the signal needs token logprobs.
    public var needsLogprobs: Bool { self != .heuristic }
}
