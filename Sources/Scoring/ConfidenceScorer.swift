import Foundation
import JobProtocol
import Settings

/// Scores how far an answer can be trusted, from 0 to 1 (report 3.3).
///
/// Two signals: the report's heuristic (length, evasive phrases, expected format, "as an AI"
/// markers, in Italian and English), and the token logprobs when the provider returns them.
/// Under `auto` the lower of the two wins: logprobs catch a model that is fluent but unsure,
/// the heuristic catches one that is sure of an evasion.
public struct ConfidenceScorer: Sendable {
    public var method: TierSettings.ConfidenceMethod
    public var aggregate: TierSettings.LogprobAggregate

    public init(method: TierSettings.ConfidenceMethod, aggregate: TierSettings.LogprobAggregate = .mean) {
        self.method = method
        self.aggregate = aggregate
    }

    /// Nil when the method is `none` (Claude's answers are the baseline and are not scored).
    ///
    /// `selfEvaluation` is the model's own 0–1 rating for `self_eval`; without it (the rating
    /// call failed or gave no number) the heuristic stands in, so an answer is never
    /// accepted unscored.
    public func score(answer: String, tokenLogprobs: [Double]?, expectedFormat: String?, selfEvaluation: Double? = nil) -> Double? {
        switch method {
        case .none:
            return nil
        case .heuristic:
            return Self.heuristic(answer, expectedFormat: expectedFormat)
        case .logprobs:
            return tokenLogprobs.map(fromLogprobs) ?? Self.heuristic(answer, expectedFormat: expectedFormat)
        case .auto:
            let heuristic = Self.heuristic(answer, expectedFormat: expectedFormat)
            guard let logprobs = tokenLogprobs else { return heuristic }
            return min(heuristic, fromLogprobs(logprobs))
        case .selfEval:
            return selfEvaluation ?? Self.heuristic(answer, expectedFormat: expectedFormat)
        }
    }

    /// The score of an answer that is a set of tool calls: the heuristic reads prose and has
    /// nothing to say about a call, so the logprobs (or the model's own rating) decide, and
    /// without them the answer is not scored: `StructuredAnswer` is then its check.
    public func scoreToolCalls(tokenLogprobs: [Double]?, selfEvaluation: Double? = nil) -> Double? {
        switch method {
        case .none, .heuristic: return nil
        case .logprobs, .auto: return tokenLogprobs.map(fromLogprobs)
        case .selfEval: return selfEvaluation
        }
    }

    /// The configured aggregate of the token logprobs, as a probability.
    public func fromLogprobs(_ logprobs: [Double]) -> Double {
        switch aggregate {
        case .mean: return Self.fromLogprobs(logprobs)
        case .p10: return Self.fromLogprobs(logprobs, quantile: 0.10)
        }
    }

    /// exp of the `quantile`-th logprob (nearest rank): the probability that all but the worst
    /// `quantile` share of tokens reach.
    public static func fromLogprobs(_ logprobs: [Double], quantile: Double) -> Double {
        guard !logprobs.isEmpty else { return 0 }
        let sorted = logprobs.sorted()
        let rank = min(sorted.count - 1, max(0, Int((quantile * Double(sorted.count)).rounded(.up)) - 1))
        return max(0, min(1, exp(sorted[rank])))
    }

    /// The geometric mean of the token probabilities: exp(mean logprob).
    ///
    /// -0.05 per token gives 0.95; -0.357 gives 0.70 (the default threshold); -2.5 gives 0.08.
    public static func fromLogprobs(_ logprobs: [Double]) -> Double {
        guard !logprobs.isEmpty else { return 0 }
        let mean = logprobs.reduce(0, +) / Double(logprobs.count)
        return max(0, min(1, exp(mean)))
    }

    static let evasivePhrases = [
        // Italian, from the report.
        "non sono sicuro", "non sono sicura", "potrebbe essere", "forse", "probabilmente", "non posso determinare",
        "non saprei", "non lo so",
        // English equivalents.
        "i'm not sure", "i am not sure", "not sure", "it might be", "maybe", "perhaps", "probably",
        "i cannot determine", "i can't determine", "i don't know", "i do not know",
    ]

    static let hallucinationMarkers = [
        "secondo la mia conoscenza che termina", "non ho accesso a", "come ai language model", "come modello di linguaggio",
        "as an ai language model", "as an ai model", "as a language model", "my knowledge cutoff", "i don't have access to",
        "i do not have access to",
    ]

    /// The report's heuristic (3.3, method 2), with the same weights.
    public static func heuristic(_ answer: String, expectedFormat: String?) -> Double {
        heuristicSignals(answer, expectedFormat: expectedFormat).score
    }

    /// The heuristic's signals, by name, as a labelled outcome records them.
    public enum HeuristicSignal: String, Sendable, CaseIterable {
        case empty, short, evasive
        case formatMiss = "format_miss"
        case aiMarker = "ai_marker"
    }

    /// The heuristic's score and the signals that lowered it.
    public static func heuristicSignals(_ answer: String, expectedFormat: String?) -> (score: Double, signals: [HeuristicSignal]) {
        let text = answer.trimmedWhitespace
        if text.isEmpty { return (0, [.empty]) }
        // Models often write the typographic apostrophe (don’t); the phrase lists use ASCII.
        let lower = text.lowercased()
        var score = 1.0
        var signals: [HeuristicSignal] = []
        if text.count < 50 {
            score *= 0.7
            signals.append(.short)
        }
        let scalars = lower.unicodeScalars.map { $0 == "\u{2019}" ? "'" : $0 }
        if evasiveScalars.contains(where: { containsPhrase(scalars, $0) }) {
            score *= 0.6
            signals.append(.evasive)
        }
        let formatWeight: Double
        switch expectedFormat?.lowercased() {
        case "markdown"?:
            formatWeight = text.hasPrefix("#") ? 1 : 0.8
        case "json"?:
            formatWeight = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) == nil ? 0.5 : 1
        default:
            formatWeight = 1
        }
        if formatWeight < 1 {
            score *= formatWeight
            signals.append(.formatMiss)
        }
        if hallucinationScalars.contains(where: { find(scalars, $0, wholeWord: false) }) {
            score *= 0.4
            signals.append(.aiMarker)
        }
        return (max(0, min(1, score)), signals)
    }

    private static let evasiveScalars = evasivePhrases.map { Array($0.unicodeScalars) }
    private static let hallucinationScalars = hallucinationMarkers.map { Array($0.unicodeScalars) }

    /// Whole-word match, so that "forse" does not fire on "forsennato" nor "maybe" inside a word.
    private static func containsPhrase(_ text: [Unicode.Scalar], _ phrase: [Unicode.Scalar]) -> Bool {
        find(text, phrase, wholeWord: true)
    }

    /// A plain scan over scalars: Foundation's `range(of:)` costs more than the rest of a job.
    private static func find(_ text: [Unicode.Scalar], _ phrase: [Unicode.Scalar], wholeWord: Bool) -> Bool {
        guard !phrase.isEmpty, phrase.count <= text.count else { return false }
        let first = phrase[0]
        var start = 0
        while start + phrase.count <= text.count {
            if text[start] == first && text[start..<start + phrase.count].elementsEqual(phrase) {
                if !wholeWord { return true }
                let end = start + phrase.count
                let beforeOK = start == 0 || !text[start - 1].properties.isAlphabetic
                let afterOK = end == text.count || !text[end].properties.isAlphabetic
                if beforeOK && afterOK { return true }
            }
            start += 1
        }
        return false
    }
}
