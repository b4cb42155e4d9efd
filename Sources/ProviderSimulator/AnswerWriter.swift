/// Writes the simulator's deterministic answers.
///
/// The answers have two readers. People watching a demo should see text that plausibly
/// answers their prompt, so the writer picks a form from the prompt's intent (summary,
/// commit message, translation, anything else) and fills it with the prompt's own words.
/// The worker pool's confidence heuristic should accept a default answer, so every
/// default answer is at least ``minimumDefaultLength`` characters long and avoids the
/// hedging phrases ("not sure", "maybe", "forse") that only `#sim evasive` produces.
/// Nothing here is random: the template choice comes from a stable hash of the prompt.
enum AnswerWriter {
    /// The closing line of the report's self-evaluation prompt (3.3, method 3).
    static let selfEvaluationMarker = "Confidence score (solo numero 0-10)"

    /// The shortest default answer the writer produces, in characters.
    static let minimumDefaultLength = 120

    /// The answer text for `prompt` (directive lines already removed) under `directives`.
    /// `allowThinking` is false for the Anthropic endpoint, which has no `<think>` form.
    static func answer(prompt: String, directives: SimDirectives, allowThinking: Bool) -> String {
        // A self-evaluation request ("Confidence score (solo numero 0-10):") gets a bare number,
        // whatever the embedded original question asked the simulator to do with its answer.
        if prompt.contains(selfEvaluationMarker) { return String(directives.selfEval ?? 8) }
        if directives.empty { return "" }
        let features = PromptFeatures(prompt: prompt)
        let body: String
        if directives.short {
            body = "OK."
        } else if directives.evasive {
            body = evasive(features)
        } else {
            body = defaultAnswer(features)
        }
        guard directives.think && allowThinking else { return body }
        return reasoning(features) + body
    }

    /// The answer a healthy provider gives, chosen by the prompt's intent.
    static func defaultAnswer(_ features: PromptFeatures) -> String {
        let text: String
        switch features.intent {
        case .summary: text = summary(features)
        case .commitMessage: text = commitMessage(features)
        case .translation: text = TranslationWriter.translate(features)
        case .general: text = general(features)
        }
        return padded(text, italian: features.isItalian)
    }

    /// A hedging answer in the prompt's language, short enough to look like a weak model.
    static func evasive(_ features: PromptFeatures) -> String {
        let subject = features.keyword(0, or: features.isItalian ? "la domanda" : "the question")
        if features.isItalian {
            return "Non sono sicuro, forse dipende da \(subject). Potrei sbagliarmi."
        }
        return "I'm not sure, maybe it depends on \(subject). I might be wrong."
    }

    /// An R1-style reasoning block, separated from the answer by a blank line.
    static func reasoning(_ features: PromptFeatures) -> String {
        let first = features.keyword(0, or: "the goal")
        let second = features.keyword(1, or: "the constraints")
        return "<think>\nThe user asks about \(features.topic()). The key points are \(first) and \(second); "
            + "I will cover them in order and keep the answer concrete.\n</think>\n\n"
    }

    private static func summary(_ features: PromptFeatures) -> String {
        let source = sourceText(features.text)
        // A one-line prompt is all instruction ("Summarize this article about X"); echoing it
        // would read oddly, so the summary then starts from the keywords alone.
        let lead = source == features.text ? "" : leadSentence(of: source)
        let topic = features.topic(4)
        let first = features.keyword(0, or: features.isItalian ? "il tema" : "the subject")
        let second = features.keyword(1, or: features.isItalian ? "le conclusioni" : "its conclusions")
        if features.isItalian {
            return "Summary: \(lead)Il testo ruota attorno a \(topic) e mette in evidenza \(first) come punto chiave. "
                + "In breve, parla di \(first) e di \(second)."
        }
        return "Summary: \(lead)The text centres on \(topic) and singles out \(first) as the key point. "
            + "In short, it is about \(first) and \(second)."
    }

    private static func commitMessage(_ features: PromptFeatures) -> String {
        let lowered = features.text.lowercased()
        let has = { (needles: [String]) in needles.contains { lowered.contains($0) } }
        let (kind, verb): (String, String) =
            if has(["fix", "bug", "crash", "error", "errore", "correggi"]) {
                ("fix", "fix")
            } else if has(["readme", "docs", "documentation", "documentazione"]) {
                ("docs", "document")
            } else if has(["refactor", "rename", "cleanup", "rinomina"]) { ("refactor", "restructure") } else if has(["test"]) {
                ("test", "cover")
            } else if has(["perf", "faster", "speed", "veloc"]) { ("perf", "speed up") } else { ("feat", "add") }
        // "adds a heartbeat to the worker registry": the first significant word is what
        // changes, the second where it changes.
        let object = features.keyword(0, or: "handling")
        let scope = features.keyword(1, or: "core").lowercased()
        let subject = String("\(kind)(\(scope)): \(verb) \(object)".prefix(72))
        let detail = features.keyword(2, or: scope)
        return subject + "\n\n"
            + "- \(verb.prefix(1).uppercased() + verb.dropFirst()) \(object) in \(scope).\n"
            + "- Keep \(detail) behaviour unchanged for existing callers.\n"
            + "- Add a note to the changelog."
    }

    private static func general(_ features: PromptFeatures) -> String {
        let topic = features.topic()
        let italian = features.isItalian
        let first = features.keyword(0, or: italian ? "la questione centrale" : "the core question")
        let second = features.keyword(1, or: italian ? "l'approccio" : "the approach")
        let third = features.keyword(2, or: italian ? "il requisito principale" : "the main requirement")
        let templates: [String] =
            italian
            ? [
                "In sintesi, \(topic) si riduce a pochi punti chiari. Prima di tutto \(first) definisce il contesto: "
                    + "va precisato insieme ai vincoli che valgono. Poi \(second) orienta la scelta pratica, da "
                    + "confrontare con quei vincoli. Infine conviene verificare il risultato su un esempio concreto.",
                "Ecco una risposta diretta su \(topic). L'idea chiave è che \(first) e \(second) lavorano insieme: "
                    + "il primo stabilisce cosa serve, il secondo come ottenerlo. In pratica si parte da \(third), "
                    + "lo si applica a un caso reale e si misura il risultato. È un approccio solido e facile da estendere.",
            ]
            : [
                "\(capitalized(topic)) comes down to a few clear points. First, \(first) sets the context: define it "
                    + "precisely and note the constraints that apply. Second, \(second) determines the practical choice, "
                    + "so compare the options against those constraints. Finally, check the result on a small, concrete example.",
                "Here is a direct answer about \(topic). The key idea is that \(first) and \(second) work together: "
                    + "the first defines what is needed, the second how it is delivered. In practice, start from \(third), "
                    + "apply it to one real case, and measure the outcome. This approach is reliable and easy to extend.",
                "Short answer on \(topic): focus on \(first) first. It is the part that most affects the outcome, and "
                    + "getting it right makes \(second) straightforward. A good sequence is to write down the goal, handle "
                    + "\(first), then adjust \(second) and verify it with a quick test. That covers the essentials.",
            ]
        return templates[Int(features.hash % UInt64(templates.count))]
    }

    /// The part of a summarise prompt that is the text to summarise: the lines after
    /// the instruction line, or what follows the first colon, or the whole prompt.
    private static func sourceText(_ prompt: String) -> String {
        let lines = prompt.split(whereSeparator: \.isNewline)
        if lines.count > 1 { return lines.dropFirst().joined(separator: " ").trimmed() }
        if let colon = prompt.firstIndex(of: ":") { return prompt[prompt.index(after: colon)...].trimmed() }
        return prompt
    }

    /// The first sentence of `text`, at most about 100 characters (cut at a word), with a
    /// closing period and a trailing space; empty when there is no text.
    private static func leadSentence(of text: String) -> String {
        let sentence = text.split(whereSeparator: { $0.isNewline || ".!?".contains($0) }).first.map { $0.trimmed() } ?? ""
        guard !sentence.isEmpty else { return "" }
        var words: [Substring] = []
        var length = 0
        for word in sentence.split(separator: " ") where length + word.count <= 100 {
            words.append(word)
            length += word.count + 1
        }
        return capitalized(words.joined(separator: " ")) + ". "
    }

    /// Pads a too-short answer with a neutral closing sentence so that every default
    /// answer clears ``minimumDefaultLength``.
    private static func padded(_ text: String, italian: Bool) -> String {
        var result = text
        let closing =
            italian
            ? " Questi sono i punti essenziali da tenere presenti." : " These are the essential points to keep in mind."
        while result.count < minimumDefaultLength { result += closing }
        return result
    }

    static func capitalized(_ text: String) -> String {
        text.prefix(1).uppercased() + text.dropFirst()
    }
}
