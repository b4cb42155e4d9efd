import Foundation

/// The simulator's stand-in for a tokenizer, and the log-probabilities it reports.
///
/// The worker pool's confidence scoring reads `choices[0].logprobs.content` and the
/// usage counts, so both must be coherent: the answer is split on whitespace, each
/// token keeping the whitespace before it (" word", like BPE tokens), so the tokens
/// concatenate back to the exact answer and `completion_tokens` is their count. Prompt
/// sizes use the usual rough rule of one token per four characters.
///
/// Logprobs are noise around a chosen mean (about -0.05 by default, or `#sim logprob=X`).
/// The noise is derived from the answer's hash and re-centred so that the arithmetic
/// mean equals the target to within rounding; its amplitude shrinks near zero so that
/// no logprob ever becomes positive.
enum SimTokens {
    /// Mean logprob of an answer when no `logprob` directive is given: a confident model.
    static let defaultMeanLogprob = -0.05

    /// Candidate alternatives listed in `top_logprobs`, in order of preference.
    static let alternatives = [
        " the", " a", " and", " of", " to", " is", ",", ".", " in", " it",
        " that", " for", " on", " with", " as", " this", " be", " by", " or", " an", " at",
    ]

    /// Approximate token count of a prompt: `ceil(characters / 4)`.
    static func approximateCount(_ text: String) -> Int {
        (text.count + 3) / 4
    }

    /// The answer's tokens: each run of whitespace joins the word that follows it.
    /// Concatenating the result gives back `text` exactly.
    static func split(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var hasWord = false
        for character in text {
            if character.isWhitespace {
                if hasWord {
                    tokens.append(current)
                    current = ""
                    hasWord = false
                }
            } else {
                hasWord = true
            }
            current.append(character)
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    /// One logprob per token whose arithmetic mean is `mean` (±0.0001 for rounding).
    static func logprobs(for tokens: [String], mean: Double, seed: UInt64) -> [Double] {
        guard !tokens.isEmpty else { return [] }
        let target = min(mean, 0)
        let amplitude = min(0.03, -target * 0.5)
        let noise = tokens.indices.map { index in
            (SeededRandom.unit(seed &+ UInt64(index) &* 0x1000_0000_01B3) * 2 - 1) * amplitude
        }
        let offset = noise.reduce(0, +) / Double(noise.count)
        return noise.map { min(0, round6(target + $0 - offset)) }
    }

    /// Near-certain tokens (-0.02) with one contiguous span, an eighth of the answer (at least
    /// one token) in its middle, at `span`: a confident answer with one shaky stretch, which a
    /// mean hides and a low quantile shows.
    static func spanLogprobs(count: Int, span: Double) -> [Double] {
        guard count > 0 else { return [] }
        let length = max(1, (count + 7) / 8)
        let start = (count - length) / 2
        return (0..<count).map { (start..<start + length).contains($0) ? min(0, span) : -0.02 }
    }

    /// The `logprobs` object of an OpenAI choice: one entry per token, each with its
    /// UTF-8 bytes and, when `topCount` > 0, that many alternatives sorted by logprob.
    static func logprobsJSON(tokens: [String], mean: Double, topCount: Int, badSpan: Double? = nil) -> JSONValue {
        ["content": .array(logprobEntries(tokens: tokens, mean: mean, topCount: topCount, badSpan: badSpan))]
    }

    /// The entries of ``logprobsJSON(tokens:mean:topCount:badSpan:)``, one per token.
    ///
    /// Each value depends on the whole answer (the noise is seeded by its text and re-centred
    /// on the mean), so a stream computes them all before sending the first token and then
    /// hands out entry `i` with token `i`: streamed and non-streamed logprobs are identical.
    static func logprobEntries(tokens: [String], mean: Double, topCount: Int, badSpan: Double? = nil) -> [JSONValue] {
        let seed = PromptFeatures.fnv1a(tokens.joined())
        let values = badSpan.map { spanLogprobs(count: tokens.count, span: $0) } ?? logprobs(for: tokens, mean: mean, seed: seed)
        return zip(tokens, values).map { token, logprob in
            [
                "token": .string(token),
                "logprob": .double(logprob),
                "bytes": .array(token.utf8.map { .int(Int($0)) }),
                "top_logprobs": .array(topEntries(token: token, logprob: logprob, count: topCount)),
            ]
        }
    }

    /// `count` candidates for one position: the chosen token plus alternatives sharing
    /// the remaining probability mass in halves, sorted from most to least likely.
    static func topEntries(token: String, logprob: Double, count: Int) -> [JSONValue] {
        guard count > 0 else { return [] }
        var candidates: [(String, Double)] = [(token, logprob)]
        let remaining = max(1 - exp(logprob), 1e-6)
        var share = 0.5
        for alternative in alternatives where alternative != token && candidates.count < count {
            candidates.append((alternative, round6(log(max(remaining * share, 1e-12)))))
            share /= 2
        }
        return candidates.sorted { $0.1 > $1.1 }.map { candidate in
            [
                "token": .string(candidate.0),
                "logprob": .double(candidate.1),
                "bytes": .array(candidate.0.utf8.map { .int(Int($0)) }),
            ]
        }
    }

    private static func round6(_ value: Double) -> Double {
        (value * 1_000_000).rounded() / 1_000_000
    }
}
