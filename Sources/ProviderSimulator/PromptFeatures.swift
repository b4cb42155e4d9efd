/// What the answer writer needs to know about a prompt: its language, its intent and
/// its significant words.
///
/// The simulator's answers must look like answers to the prompt (a demo shows them, and
/// the confidence heuristic of the worker pool reads them), yet be fully deterministic.
/// A few keyword rules are enough for that: they pick the kind of answer, and the
/// prompt's own words fill it in. The hash is FNV-1a rather than `Hasher`, whose seed
/// changes with every process, because "same prompt, same answer" must hold across runs.
struct PromptFeatures: Sendable {
    /// The kind of answer a prompt asks for.
    enum Intent: Sendable, Equatable {
        case summary, commitMessage, translation, general
    }

    /// The prompt with directive lines already removed.
    let text: String
    /// Whether the prompt reads as Italian (more Italian than English function words).
    let isItalian: Bool
    /// The kind of answer requested.
    let intent: Intent
    /// Significant words in order of first appearance, lowercased, without duplicates.
    let keywords: [String]
    /// A stable 64-bit hash of the prompt text.
    let hash: UInt64

    init(prompt: String) {
        self.text = prompt
        let lowered = prompt.lowercased()
        let words = Self.words(of: lowered)
        let italianScore = words.filter { Self.italianMarkers.contains($0) }.count
        let englishScore = words.filter { Self.englishMarkers.contains($0) }.count
        self.isItalian = italianScore > englishScore
        self.intent = Self.intent(of: lowered)
        self.keywords = Self.keywords(of: prompt)
        self.hash = Self.fnv1a(prompt)
    }

    /// Up to `count` keywords as a readable list ("a, b and c"), or a neutral fallback
    /// when the prompt has no significant word.
    func topic(_ count: Int = 3) -> String {
        let picked = Array(keywords.prefix(count))
        guard let last = picked.last else { return isItalian ? "questa richiesta" : "this request" }
        if picked.count == 1 { return last }
        let conjunction = isItalian ? " e " : " and "
        return picked.dropLast().joined(separator: ", ") + conjunction + last
    }

    /// The keyword at `index`, or `fallback` when the prompt has fewer keywords (never
    /// a repeat, which would read as "x and x").
    func keyword(_ index: Int, or fallback: String) -> String {
        index < keywords.count ? keywords[index] : fallback
    }

    /// Significant words of `text`: at least four letters, or an acronym such as "TCP"
    /// (kept upper-case); stopwords, hedges and instruction words are left out.
    static func keywords(of text: String) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for word in words(of: text) {
            let lowered = word.lowercased()
            let isAcronym =
                word.count >= 2 && word.count <= 6 && word.allSatisfy { $0.isUppercase || $0.isNumber }
                && word.contains(where: \.isLetter)
            guard lowered.count >= 4 || isAcronym else { continue }
            guard !stopwords.contains(lowered), !instructionWords.contains(lowered), seen.insert(lowered).inserted else {
                continue
            }
            result.append(isAcronym ? word : lowered)
        }
        return result
    }

    /// Letters and digits runs of `text` (accented letters included), in order;
    /// apostrophes split elisions such as "l'acqua".
    static func words(of text: String) -> [String] {
        text.split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }

    /// FNV-1a over the UTF-8 bytes: tiny, stable across processes and platforms.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    private static func intent(of lowered: String) -> Intent {
        let has = { (needles: [String]) in needles.contains { lowered.contains($0) } }
        if has(["commit message", "messaggio di commit", "commit msg", "git commit"]) { return .commitMessage }
        if has(["summar", "riassum", "riassunto", "sintetizz", "tl;dr", "tldr"]) { return .summary }
        if has(["translate", "translation", "traduci", "traduzione", "tradurre"]) { return .translation }
        return .general
    }

    /// Function words that only Italian uses often; a handful is enough to tell the
    /// two languages the pool sees apart.
    static let italianMarkers: Set<String> = [
        "il", "lo", "la", "gli", "le", "di", "che", "è", "per", "una", "uno", "non", "sono", "come",
        "del", "della", "dei", "nel", "nella", "questo", "questa", "cosa", "perché", "quale", "anche",
        "mi", "puoi", "riassumi", "traduci", "spiega", "scrivi", "con", "su", "da", "ciao", "grazie",
    ]

    /// English function words; "a" and "in" are left out because Italian uses them too.
    static let englishMarkers: Set<String> = [
        "the", "an", "of", "to", "is", "are", "and", "for", "what", "how", "why", "this", "that",
        "with", "please", "can", "you", "write", "explain", "summarize", "summarise", "translate", "on",
        "it", "be", "do", "does", "my", "i", "me", "hello", "thanks",
    ]

    static let stopwords: Set<String> = [
        "this", "that", "these", "those", "with", "from", "into", "about", "what", "when", "where",
        "which", "while", "would", "could", "should", "there", "their", "they", "them", "have", "does",
        "your", "yours", "been", "were", "will", "just", "than", "then", "also", "some", "more", "most",
        "very", "such", "only", "over", "here", "after", "before", "because", "between", "each", "other",
        "questo", "questa", "questi", "queste", "quello", "quella", "della", "delle", "degli", "dello",
        "nella", "nelle", "negli", "sono", "come", "anche", "perché", "quale", "quali", "cosa", "molto",
        "tutto", "tutti", "essere", "hanno", "fare", "dopo", "prima", "ogni", "loro", "suoi", "però",
        // Hedges: echoed back as a topic they would make a confident answer look evasive.
        "maybe", "perhaps", "might", "probably", "unsure", "forse", "probabilmente", "magari",
    ]

    /// Words of the instruction itself, which would make odd topics ("summary of summarize").
    static let instructionWords: Set<String> = [
        "please", "summarize", "summarise", "summary", "riassumi", "riassunto", "translate", "translation",
        "traduci", "traduzione", "tradurre", "commit", "message", "messaggio", "write", "scrivi", "explain",
        "spiega", "following", "seguente", "text", "testo", "italian", "english", "italiano", "inglese",
        "puoi", "potresti", "briefly", "brevemente", "answer", "rispondi", "article", "articolo", "paragraph",
        "paragrafo", "document", "documento", "passage", "brano", "change", "changes", "modifica", "adds",
        "added", "update", "updates", "diff", "patch",
    ]
}
