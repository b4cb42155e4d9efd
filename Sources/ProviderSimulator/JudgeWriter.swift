import Foundation

/// The simulator as the POC's judge: a Messages request whose system prompt is `cervella poc`'s
/// judge prompt gets a score in the judge's reply format instead of an ordinary answer.
///
/// `cervella poc` must run in tests and demos without Claude, and its verdict must mean
/// something there: the score is derived from the judged answer, the way a strict reader would
/// see it, and nothing is random. An empty answer scores 1; an evasive one (the hedges the
/// simulator's own `#sim evasive` writes, in Italian and English) or a bare "OK." scores 2; an
/// answer that is not the JSON the task expects scores 3; a plain answer scores 5 when it uses
/// at least two of the task's significant words and 4 otherwise. A `#sim judge_score=N` line in
/// the task (which the judge request quotes) decides the score outright, which is how tests
/// make chosen tasks fail.
enum JudgeWriter {
    /// The start of the judge prompt's first line (`POCJudgePrompt.markerLine` in the POC
    /// module, which this module does not import); later versions of the prompt keep it.
    static let marker = "Cervella POC judge"

    /// Whether `system` is the judge prompt: its first non-blank line starts with ``marker``.
    static func isJudgePrompt(_ system: String) -> Bool {
        let firstLine = system.split(whereSeparator: \.isNewline).first { !$0.trimmed().isEmpty }
        return firstLine.map { $0.trimmed().hasPrefix(marker) } ?? false
    }

    /// The judge's reply to `message` (the judge request's user message, directive lines
    /// removed): `SCORE: N` and a one-line `REASON:`.
    static func reply(to message: String, directives: SimDirectives) -> String {
        let (score, reason) = judge(message, forced: directives.judgeScore)
        return "SCORE: \(score)\nREASON: \(reason)"
    }

    /// Hedges that mark an evasive answer: the ones `AnswerWriter.evasive` writes and their
    /// common variants, matched as whole words.
    static let hedges = [
        "non sono sicuro", "non sono sicura", "forse", "potrei sbagliarmi", "non saprei", "non lo so",
        "i'm not sure", "i am not sure", "maybe", "perhaps", "i might be wrong", "i don't know",
    ]

    static func judge(_ message: String, forced: Int?) -> (score: Int, reason: String) {
        if let forced { return (forced, "simulated judge: the task's #sim judge_score directive sets this score.") }
        let answer = section("answer", in: message)?.trimmed() ?? ""
        if answer.isEmpty { return (1, "simulated judge: the answer is empty.") }
        let words = PromptFeatures.words(of: answer.lowercased().replacingOccurrences(of: "\u{2019}", with: "'"))
        let lowered = " " + words.joined(separator: " ") + " "
        if hedges.contains(where: { lowered.contains(" " + PromptFeatures.words(of: $0).joined(separator: " ") + " ") }) {
            return (2, "simulated judge: the answer is evasive and does not do the task.")
        }
        if answer.count < 20 { return (2, "simulated judge: the answer is too short to do the task.") }
        if section("expected_format", in: message)?.trimmed().lowercased() == "json",
            (try? JSONSerialization.jsonObject(with: Data(answer.utf8), options: [.fragmentsAllowed])) == nil
        {
            return (3, "simulated judge: the task asks for JSON and the answer is not JSON.")
        }
        let taskWords = Set(PromptFeatures.keywords(of: section("task", in: message) ?? "").map { $0.lowercased() })
        let shared = Set(PromptFeatures.keywords(of: answer).map { $0.lowercased() }).intersection(taskWords).count
        if shared >= 2 { return (5, "simulated judge: a complete answer that works with the task's own material (\(shared) shared terms).") }
        return (4, "simulated judge: a usable answer that uses little of the task's material.")
    }

    /// The text between the last `<name>` and the `</name>` after it; nil without both.
    static func section(_ name: String, in message: String) -> String? {
        guard let open = message.range(of: "<\(name)>", options: .backwards),
            let close = message.range(of: "</\(name)>", options: .backwards, range: open.upperBound..<message.endIndex)
        else { return nil }
        return String(message[open.upperBound..<close.lowerBound])
    }
}
