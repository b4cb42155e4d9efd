/// Writes the simulator's answer to "translate …" / "traduci …" prompts.
///
/// A real translation is out of reach, but a demo only needs a plausible line: the text
/// to translate is found (in quotes, after a colon, or after the instruction line), the
/// target language is read from the prompt, and common words are swapped through a small
/// English–Italian glossary. Unknown words stay as they are, which is what a translator
/// does with names and technical terms anyway, and the closing note says so.
enum TranslationWriter {
    /// The translation answer for a prompt whose intent is `.translation`.
    static func translate(_ features: PromptFeatures) -> String {
        let source = sourceText(features.text)
        let target = targetLanguage(features)
        let translated: String
        switch target {
        case .italian: translated = swapWords(source, glossary: englishToItalian)
        case .english: translated = swapWords(source, glossary: italianToEnglish)
        case .other: translated = source
        }
        let untouched = PromptFeatures.keywords(of: source).filter {
            englishToItalian[$0.lowercased()] == nil && italianToEnglish[$0.lowercased()] == nil
        }
        if features.isItalian {
            let note =
                untouched.first.map { "; nomi e termini tecnici come \($0) restano invariati." }
                ?? " e suona naturale in \(target.italianName)."
            return "Traduzione (\(target.italianName)): «\(translated)»\n\n"
                + "La resa mantiene il significato e il registro dell'originale" + note
        }
        let note =
            untouched.first.map { "; names and technical terms such as \($0) are left unchanged." }
            ?? ", and it reads naturally in \(target.englishName)."
        return "Translation (\(target.englishName)): «\(translated)»\n\n"
            + "The rendering keeps the meaning and the register of the original" + note
    }

    /// A target language as named in the answer.
    enum Language: Equatable {
        case italian, english, other(english: String, italian: String)

        var englishName: String {
            switch self {
            case .italian: "Italian"
            case .english: "English"
            case .other(let english, _): english
            }
        }

        var italianName: String {
            switch self {
            case .italian: "italiano"
            case .english: "inglese"
            case .other(_, let italian): italian
            }
        }
    }

    /// The language named in the prompt ("into French", "in inglese"); without one, a
    /// prompt in Italian is translated to English and any other prompt to Italian.
    static func targetLanguage(_ features: PromptFeatures) -> Language {
        let words = Set(PromptFeatures.words(of: features.text.lowercased()))
        if !words.isDisjoint(with: ["french", "francese"]) { return .other(english: "French", italian: "francese") }
        if !words.isDisjoint(with: ["spanish", "spagnolo"]) { return .other(english: "Spanish", italian: "spagnolo") }
        if !words.isDisjoint(with: ["german", "tedesco"]) { return .other(english: "German", italian: "tedesco") }
        if !words.isDisjoint(with: ["english", "inglese"]) { return .english }
        if !words.isDisjoint(with: ["italian", "italiano"]) { return .italian }
        return features.isItalian ? .english : .italian
    }

    /// The text to translate: a quoted span, else what follows the first colon, else the
    /// lines after the first, else the prompt itself.
    static func sourceText(_ prompt: String) -> String {
        for (open, close) in [("«", "»"), ("\"", "\""), ("“", "”")] {
            if let start = prompt.firstRange(of: open), let end = prompt[start.upperBound...].firstRange(of: close) {
                let quoted = prompt[start.upperBound..<end.lowerBound].trimmed()
                if !quoted.isEmpty { return quoted }
            }
        }
        if let colon = prompt.firstIndex(of: ":") {
            let rest = prompt[prompt.index(after: colon)...].trimmed()
            if !rest.isEmpty { return rest }
        }
        let lines = prompt.split(whereSeparator: \.isNewline)
        if lines.count > 1 { return lines.dropFirst().joined(separator: " ").trimmed() }
        return prompt.trimmed()
    }

    /// Replaces glossary words and two-word phrases ("thank you"), keeping punctuation
    /// and a leading capital.
    static func swapWords(_ text: String, glossary: [String: String]) -> String {
        var segments: [(text: String, isWord: Bool)] = []
        for character in text {
            let isWord = character.isLetter
            if let last = segments.last, last.isWord == isWord, isWord {
                segments[segments.count - 1].text.append(character)
            } else {
                segments.append((String(character), isWord))
            }
        }
        var output = ""
        var index = 0
        while index < segments.count {
            let segment = segments[index]
            guard segment.isWord else {
                output += segment.text
                index += 1
                continue
            }
            var swapped = glossary[segment.text.lowercased()]
            var consumed = 1
            if index + 2 < segments.count, segments[index + 1].text == " ", segments[index + 2].isWord,
                let phrase = glossary[segment.text.lowercased() + " " + segments[index + 2].text.lowercased()]
            {
                swapped = phrase
                consumed = 3
            }
            if let swapped {
                output += segment.text.first?.isUppercase == true ? AnswerWriter.capitalized(swapped) : swapped
            } else {
                output += segment.text
            }
            index += consumed
        }
        return output
    }

    static let englishToItalian: [String: String] = [
        "hello": "ciao", "hi": "ciao", "good": "buon", "morning": "giorno", "evening": "sera", "night": "notte",
        "thank": "grazie", "thanks": "grazie", "you": "tu", "the": "il", "a": "un", "world": "mondo", "is": "è",
        "are": "sono", "and": "e", "or": "o", "cat": "gatto", "dog": "cane", "house": "casa", "water": "acqua",
        "today": "oggi", "tomorrow": "domani", "weather": "tempo", "nice": "bello", "beautiful": "bello",
        "i": "io", "am": "sono", "very": "molto", "happy": "felice", "how": "come", "where": "dove",
        "what": "cosa", "my": "mio", "name": "nome", "friend": "amico", "yes": "sì", "no": "no", "with": "con",
        "for": "per", "of": "di", "in": "in", "to": "a", "not": "non", "book": "libro", "time": "tempo",
        "day": "giorno", "city": "città", "work": "lavoro", "love": "amore", "sun": "sole", "sea": "mare",
        "thank you": "grazie", "good morning": "buongiorno", "good evening": "buonasera", "good night": "buonanotte",
        "beautiful day": "bella giornata",
    ]

    static let italianToEnglish: [String: String] = {
        var reversed: [String: String] = [
            "il": "the", "la": "the", "lo": "the", "le": "the", "gli": "the", "una": "a",
            "buongiorno": "good morning", "grazie": "thank you",
            "buonasera": "good evening", "è": "is", "bella": "beautiful", "oggi": "today",
        ]
        for (english, italian) in englishToItalian.sorted(by: { $0.key < $1.key })
        where reversed[italian] == nil && !english.contains(" ") {
            reversed[italian] = english
        }
        return reversed
    }()
}
