import Foundation
import JobProtocol
import Settings

/// Everything the gate can read of one answer's confidence, computed once: the token
/// probabilities' summaries and the heuristic with its signals.
///
/// A mean token logprob is biased by the answer's length: a long answer dilutes one wrong
/// span, a short one is dragged down by a single unlikely token. Low quantiles and the tail
/// ("Chow-Quantile" deferral) read the worst part of the answer instead, so `calibrate` can
/// measure which of them tells good answers from bad on a user's own traffic.
public struct ConfidenceFeatures: Sendable, Equatable {
    /// Summaries of the token logprobs, each as a probability (exp of the logprob figure).
    public struct TokenProbabilities: Sendable, Equatable {
        /// exp(mean logprob): the geometric mean token probability.
        public var mean: Double
        public var p25: Double
        public var p10: Double
        public var p05: Double
        /// The least likely token.
        public var min: Double
        /// exp(mean of the lowest 10% of logprobs, at least one): the tail-aware score, less
        /// noisy than one quantile and, unlike the mean, not diluted by a long answer.
        public var tail: Double

        public init(mean: Double, p25: Double, p10: Double, p05: Double, min: Double, tail: Double) {
            self.mean = mean
            self.p25 = p25
            self.p10 = p10
            self.p05 = p05
            self.min = min
            self.tail = tail
        }

        /// Nil without a finite logprob.
        public init?(logprobs raw: [Double]) {
            let sorted = raw.filter(\.isFinite).map { Swift.min(0, $0) }.sorted()
            guard !sorted.isEmpty else { return nil }
            func probability(_ logprob: Double) -> Double { Swift.max(0, Swift.min(1, exp(logprob))) }
            func quantile(_ q: Double) -> Double {
                let rank = Swift.min(sorted.count - 1, Swift.max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))
                return probability(sorted[rank])
            }
            let tailCount = Swift.max(1, Int((0.10 * Double(sorted.count)).rounded(.up)))
            self.init(
                mean: probability(sorted.reduce(0, +) / Double(sorted.count)), p25: quantile(0.25), p10: quantile(0.10), p05: quantile(0.05),
                min: probability(sorted[0]), tail: probability(sorted[0..<tailCount].reduce(0, +) / Double(tailCount)))
        }
    }

    /// Generated tokens the logprobs cover (0 without logprobs).
    public var tokens: Int
    /// The answer's length in characters.
    public var chars: Int
    /// Nil when the provider returned no logprobs (Anthropic, or a tier not asking for them).
    public var probabilities: TokenProbabilities?
    /// The report's heuristic (3.3) and the signals that lowered it.
    public var heuristic: Double
    public var signals: [ConfidenceScorer.HeuristicSignal]

    public init(tokens: Int, chars: Int, probabilities: TokenProbabilities?, heuristic: Double, signals: [ConfidenceScorer.HeuristicSignal]) {
        self.tokens = tokens
        self.chars = chars
        self.probabilities = probabilities
        self.heuristic = heuristic
        self.signals = signals
    }

    public init(answer: String, tokenLogprobs: [Double]?, expectedFormat: String?) {
        let heuristic = ConfidenceScorer.heuristicSignals(answer, expectedFormat: expectedFormat)
        self.init(
            tokens: tokenLogprobs?.count ?? 0, chars: answer.count, probabilities: tokenLogprobs.flatMap(TokenProbabilities.init(logprobs:)),
            heuristic: heuristic.score, signals: heuristic.signals)
    }

    /// The value of one confidence signal, nil when it needs logprobs and there are none.
    public func value(_ signal: ConfidenceSignal) -> Double? {
        switch signal {
        case .heuristic: return heuristic
        case .combined: return probabilities.map { Swift.min(heuristic, $0.mean) }
        case .mean: return probabilities?.mean
        case .p25: return probabilities?.p25
        case .p10: return probabilities?.p10
        case .p05: return probabilities?.p05
        case .min: return probabilities?.min
        case .tail: return probabilities?.tail
        }
    }
}

extension ConfidenceFeatures {
    /// The features as a JSON object, as a labelled outcome, a gate record and the POC report
    /// write them: probabilities to nine decimals, the token figures only with logprobs.
    public func write(to w: inout JSONWriter) {
        func rounded(_ value: Double) -> Double { (value * 1e9).rounded() / 1e9 }
        w.object { f in
            f.key("tokens")
            f.int(tokens)
            f.key("chars")
            f.int(chars)
            if let p = probabilities {
                for (name, value) in [("mean", p.mean), ("p25", p.p25), ("p10", p.p10), ("p05", p.p05), ("min", p.min), ("tail", p.tail)] {
                    f.key(name)
                    f.double(rounded(value))
                }
            }
            f.key("heuristic")
            f.double(rounded(heuristic))
            f.key("signals")
            f.array(signals) { $0.string($1.rawValue) }
        }
    }
}
