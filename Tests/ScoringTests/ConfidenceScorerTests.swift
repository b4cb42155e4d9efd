import Foundation
import Scoring
import Testing

/// Neutral sentences of at least 50 characters, with no evasive phrase nor marker, so that a
/// test adds exactly one signal to them.
private let neutralItalian = "Il rapporto elenca i dati trimestrali di ogni regione in dettaglio."
private let neutralEnglish = "The report lists the quarterly figures of every region in detail."

private func heuristic(_ answer: String, _ format: String? = nil) -> Double {
    ConfidenceScorer.heuristic(answer, expectedFormat: format)
}

private func isClose(_ a: Double?, _ b: Double, tolerance: Double = 1e-9) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance
}

@Suite struct ConfidenceHeuristicTests {
    @Test func longPlainAnswerScoresOne() {
        #expect(neutralItalian.count >= 50 && neutralEnglish.count >= 50)
        #expect(heuristic(neutralItalian) == 1.0)
        #expect(heuristic(neutralEnglish) == 1.0)
    }

    @Test func emptyOrBlankAnswerScoresZero() {
        #expect(heuristic("") == 0)
        #expect(heuristic("   \n\t ") == 0)
        #expect(heuristic("", "json") == 0)
    }

    @Test func answerUnderFiftyCharactersIsWeightedSevenTenths() {
        #expect(isClose(heuristic("Canberra."), 0.7))
        #expect(isClose(heuristic(String(repeating: "a", count: 49)), 0.7))
        #expect(heuristic(String(repeating: "a", count: 50)) == 1.0)
    }

    @Test func lengthIsCountedInCharactersNotBytes() {
        // 50 characters, 100 UTF-8 bytes: long enough, as Python's len() would say.
        #expect(heuristic(String(repeating: "è", count: 50)) == 1.0)
        // 49 characters, 98 bytes: short.
        #expect(isClose(heuristic(String(repeating: "è", count: 49)), 0.7))
    }

    @Test func surroundingWhitespaceDoesNotCountTowardsLength() {
        let padded = "  " + String(repeating: "a", count: 45) + "\n\n\n\n\n\n"
        #expect(padded.count >= 50)
        #expect(isClose(heuristic(padded), 0.7))
    }

    static let italianEvasions = [
        "non sono sicuro", "non sono sicura", "potrebbe essere", "forse", "probabilmente", "non posso determinare", "non saprei", "non lo so",
    ]
    static let englishEvasions = [
        "i'm not sure", "i am not sure", "not sure", "it might be", "maybe", "perhaps", "probably", "i cannot determine", "i can't determine",
        "i don't know", "i do not know",
    ]

    @Test(arguments: italianEvasions)
    func italianEvasivePhraseIsWeightedSixTenths(phrase: String) {
        #expect(isClose(heuristic("\(phrase), \(neutralItalian)"), 0.6))
    }

    @Test(arguments: englishEvasions)
    func englishEvasivePhraseIsWeightedSixTenths(phrase: String) {
        #expect(isClose(heuristic("\(neutralEnglish) But \(phrase) it differs."), 0.6))
    }

    @Test func evasivePhrasesMatchWhateverTheCase() {
        #expect(isClose(heuristic("FORSE " + neutralItalian), 0.6))
        #expect(isClose(heuristic("Maybe. " + neutralEnglish), 0.6))
        #expect(isClose(heuristic("Non Sono Sicuro: " + neutralItalian), 0.6))
    }

    @Test func severalEvasivePhrasesCountOnce() {
        #expect(isClose(heuristic("Forse, probabilmente, non lo so. " + neutralItalian), 0.6))
    }

    @Test func evasivePhraseNextToPunctuationStillCounts() {
        #expect(isClose(heuristic("(forse) " + neutralItalian), 0.6))
        #expect(isClose(heuristic(neutralEnglish + " ...maybe?"), 0.6))
        #expect(isClose(heuristic(neutralItalian + "\nforse"), 0.6))
    }

    @Test(arguments: [
        "Il forsennato ritmo del mercato ha spinto i dati trimestrali di ogni regione.",
        "L'evento è improbabilmente accaduto secondo i dati trimestrali di ogni regione.",
        "Maybelline reported the quarterly figures of every region in great detail.",
        "The improbably large quarterly figures of every region were listed in detail.",
        "The perhapses of the draft were removed from the quarterly figures of every region.",
    ])
    func evasiveWordsInsideLongerWordsDoNotCount(answer: String) {
        #expect(heuristic(answer) == 1.0)
    }

    @Test func markdownWithoutLeadingHashIsWeightedEightTenths() {
        #expect(isClose(heuristic(neutralItalian, "markdown"), 0.8))
        #expect(heuristic("# Riepilogo\n\n" + neutralItalian, "markdown") == 1.0)
        #expect(heuristic("\n\n## Riepilogo\n" + neutralItalian, "markdown") == 1.0)
        #expect(isClose(heuristic(neutralItalian, "Markdown"), 0.8))
        // The report checks response.startswith("#"): a heading further down does not count.
        #expect(isClose(heuristic("Ecco il riepilogo:\n\n# Titolo\n" + neutralItalian, "markdown"), 0.8))
    }

    @Test func invalidJSONIsWeightedOneHalf() {
        let valid = #"{"regions": ["nord", "centro", "sud"], "quarter": 3, "total": 1250.5}"#
        #expect(valid.count >= 50)
        #expect(heuristic(valid, "json") == 1.0)
        #expect(isClose(heuristic("Ecco il JSON: " + valid, "json"), 0.5))
        #expect(isClose(heuristic(#"{"regions": ["nord", "centro", "sud"], "quarter": 3, "total": 1250.5"#, "json"), 0.5))
        #expect(isClose(heuristic("Ecco il JSON: " + valid, "JSON"), 0.5))
    }

    @Test func shortValidJSONIsOnlyPenalisedForLength() {
        #expect(isClose(heuristic(#"{"ok":true}"#, "json"), 0.7))
        #expect(isClose(heuristic("[1, 2, 3]", "json"), 0.7))
    }

    @Test func unknownExpectedFormatChangesNothing() {
        #expect(heuristic(neutralItalian, "yaml") == 1.0)
        #expect(heuristic(neutralItalian, nil) == 1.0)
    }

    @Test(arguments: [
        "Secondo la mia conoscenza che termina nel 2023, ",
        "Non ho accesso a internet, ma ",
        "Come AI language model, ",
        "Come modello di linguaggio, ",
        "As an AI language model, ",
        "As an AI model, ",
        "As a language model, ",
        "My knowledge cutoff is 2023, so ",
        "I don't have access to live data, so ",
        "I do not have access to live data, so ",
    ])
    func hallucinationMarkerIsWeightedFourTenths(marker: String) {
        #expect(isClose(heuristic(marker + neutralEnglish), 0.4))
    }

    /// Models often write the typographic apostrophe (U+2019): "I don’t know", "I can’t determine".
    @Test(arguments: ["I don\u{2019}t know", "I can\u{2019}t determine"])
    func evasivePhraseWithTypographicApostropheCounts(phrase: String) {
        let score = heuristic("\(phrase) the exact value. " + neutralEnglish)
        #expect(isClose(score, 0.6))
    }

    @Test func hallucinationMarkerWithTypographicApostropheCounts() {
        let score = heuristic("I don\u{2019}t have access to live data, so " + neutralEnglish)
        #expect(isClose(score, 0.4))
    }

    @Test func weightsMultiply() {
        // short (0.7) × evasive (0.6)
        #expect(isClose(heuristic("Forse è Canberra."), 0.42))
        // short × evasive × invalid JSON (0.5) × marker (0.4)
        let answer = "forse, as an ai model: {"
        #expect(answer.count < 50)
        #expect(isClose(heuristic(answer, "json"), 0.7 * 0.6 * 0.5 * 0.4))
        // evasive × markdown (0.8) × marker, long
        #expect(isClose(heuristic("Probabilmente, come modello di linguaggio, " + neutralItalian, "markdown"), 0.6 * 0.8 * 0.4))
    }
}

@Suite struct ConfidenceScorerMethodTests {
    @Test func noneMethodScoresNothing() {
        let scorer = ConfidenceScorer(method: .none)
        #expect(scorer.score(answer: neutralEnglish, tokenLogprobs: [-0.01], expectedFormat: nil) == nil)
        #expect(scorer.score(answer: "", tokenLogprobs: nil, expectedFormat: "json") == nil)
    }

    @Test func heuristicMethodIgnoresLogprobs() {
        let scorer = ConfidenceScorer(method: .heuristic)
        #expect(scorer.score(answer: neutralEnglish, tokenLogprobs: [-3.0], expectedFormat: nil) == 1.0)
        #expect(isClose(scorer.score(answer: "Forse.", tokenLogprobs: [-0.001], expectedFormat: nil), 0.42))
    }

    @Test func logprobsMethodUsesLogprobsWhenPresent() {
        let scorer = ConfidenceScorer(method: .logprobs)
        #expect(isClose(scorer.score(answer: "Forse.", tokenLogprobs: [-0.05], expectedFormat: nil), exp(-0.05)))
    }

    @Test func logprobsMethodFallsBackToTheHeuristicWithoutLogprobs() {
        let scorer = ConfidenceScorer(method: .logprobs)
        #expect(isClose(scorer.score(answer: "Forse.", tokenLogprobs: nil, expectedFormat: nil), 0.42))
    }

    @Test func autoTakesTheHeuristicWhenItIsLower() {
        let scorer = ConfidenceScorer(method: .auto)
        let evasive = "Forse, " + neutralItalian  // heuristic 0.6
        #expect(isClose(scorer.score(answer: evasive, tokenLogprobs: [-0.05, -0.05], expectedFormat: nil), 0.6))
    }

    @Test func autoTakesTheLogprobsWhenTheyAreLower() {
        let scorer = ConfidenceScorer(method: .auto)
        #expect(isClose(scorer.score(answer: neutralItalian, tokenLogprobs: [-2.5], expectedFormat: nil), 0.0820849986, tolerance: 1e-9))
    }

    @Test func autoWithoutLogprobsIsTheHeuristic() {
        let scorer = ConfidenceScorer(method: .auto)
        #expect(isClose(scorer.score(answer: neutralItalian, tokenLogprobs: nil, expectedFormat: "markdown"), 0.8))
    }

    @Test func autoScoresAnEmptyAnswerZeroWhateverTheLogprobs() {
        let scorer = ConfidenceScorer(method: .auto)
        #expect(scorer.score(answer: "", tokenLogprobs: [-0.001], expectedFormat: nil) == 0)
    }
}

@Suite struct LogprobConfidenceTests {
    @Test func confidentTokensGiveAboutNinetyFivePercent() {
        #expect(isClose(ConfidenceScorer.fromLogprobs([-0.05]), 0.951229, tolerance: 1e-6))
        #expect(isClose(ConfidenceScorer.fromLogprobs([-0.05, -0.05, -0.05]), 0.951229, tolerance: 1e-6))
    }

    @Test func confidenceIsTheExponentialOfTheMeanNotTheMeanOfExponentials() {
        // Mean logprob -0.05; the mean of the probabilities would be about 0.9518.
        #expect(isClose(ConfidenceScorer.fromLogprobs([-0.01, -0.09]), 0.951229, tolerance: 1e-6))
        // Mean -2.5 from very different tokens.
        #expect(isClose(ConfidenceScorer.fromLogprobs([0, -5]), 0.082085, tolerance: 1e-6))
    }

    @Test func unsureTokensGiveAboutEightPercent() {
        #expect(isClose(ConfidenceScorer.fromLogprobs([-2.5]), 0.082085, tolerance: 1e-6))
    }

    @Test func certainTokensGiveOne() {
        #expect(ConfidenceScorer.fromLogprobs([0, 0, 0]) == 1)
    }

    @Test func resultIsClampedToTheUnitInterval() {
        #expect(ConfidenceScorer.fromLogprobs([0.5]) == 1)
        #expect(ConfidenceScorer.fromLogprobs([-.infinity]) == 0)
        #expect(ConfidenceScorer.fromLogprobs([-9999]) == 0)
    }

    @Test func noTokensGiveZero() {
        #expect(ConfidenceScorer.fromLogprobs([]) == 0)
    }
}
