import Foundation
import JobProtocol

/// The prompt a document is sent with: `{text}` and `{name}` replaced.
public struct PromptTemplate: Sendable, Equatable {
    public var text: String

    public init(_ text: String) { self.text = text }

    /// The default summarisation prompt, in Italian and English: the model answers in the
    /// document's language.
    public static let summary = PromptTemplate(
        """
        Riassumi il documento seguente in modo chiaro e fedele, nella lingua del documento: i punti \
        principali, le decisioni e i numeri importanti.
        Summarise the following document clearly and faithfully, in the document's language: its \
        main points, decisions and key figures.

        Documento / Document: {name}

        {text}
        """)

    /// Merges the summaries of a long document's parts (the reduce step).
    public static let merge = PromptTemplate(
        """
        Unisci questi riassunti delle parti di un documento in un unico riassunto, senza ripetizioni, \
        nella lingua del documento.
        Merge these summaries of the parts of one document into a single summary, without \
        repetition, in the document's language.

        Documento / Document: {name}

        {text}
        """)

    /// Whether the template places the text (a template without `{text}` would send no document).
    public var placesText: Bool { text.contains("{text}") }

    public func render(text: String, name: String) -> String {
        // `{name}` first: a document may itself contain the characters "{name}".
        self.text.replacingOccurrences(of: "{name}", with: name).replacingOccurrences(of: "{text}", with: text)
    }
}

/// Splits a long document into overlapping parts on paragraph and heading boundaries.
public enum Chunker {
    /// Parts of at most `maxTokens` (estimated) each, cut between paragraphs (blank lines) and
    /// before Markdown headings; consecutive parts share about `overlapTokens` of text, so that
    /// a point that straddles a cut is in both. A paragraph longer than a part is cut between
    /// lines, then between words, as a last resort.
    public static func chunks(_ text: String, maxTokens: Int, overlapTokens: Int) -> [String] {
        let limit = max(16, maxTokens)
        let overlap = min(max(0, overlapTokens), limit / 4)
        guard TokenEstimator.estimate(text) > limit else { return [text] }
        let blocks = paragraphs(text).flatMap { split($0, limit: limit) }
        var parts: [String] = []
        var current: [String] = []
        var tokens = 0
        for block in blocks {
            let size = TokenEstimator.estimate(block)
            if tokens + size > limit, !current.isEmpty {
                parts.append(current.joined(separator: "\n\n"))
                // Carry the last paragraphs (up to the overlap) into the next part.
                var carried: [String] = []
                var carriedTokens = 0
                for previous in current.reversed() {
                    let previousSize = TokenEstimator.estimate(previous)
                    guard carriedTokens + previousSize <= overlap, carriedTokens + previousSize + size <= limit else { break }
                    carried.insert(previous, at: 0)
                    carriedTokens += previousSize
                }
                current = carried
                tokens = carriedTokens
            }
            current.append(block)
            tokens += size
        }
        if !current.isEmpty { parts.append(current.joined(separator: "\n\n")) }
        return parts
    }

    /// Paragraphs: separated by blank lines, and a heading (`#…`) always starts a new one.
    static func paragraphs(_ text: String) -> [String] {
        var result: [String] = []
        var lines: [Substring] = []
        func flush() {
            let paragraph = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            if !paragraph.isEmpty { result.append(paragraph) }
            lines = []
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                flush()
            } else {
                if line.hasPrefix("#") { flush() }
                lines.append(line)
            }
        }
        flush()
        return result
    }

    /// A block cut to `limit`: between lines, then between words.
    static func split(_ block: String, limit: Int) -> [String] {
        guard TokenEstimator.estimate(block) > limit else { return [block] }
        let lines = block.split(separator: "\n").map(String.init)
        let units = lines.count > 1 ? lines : block.split(separator: " ").map(String.init)
        let separator = lines.count > 1 ? "\n" : " "
        var pieces: [String] = []
        var current: [String] = []
        for unit in units {
            let candidate = (current + [unit]).joined(separator: separator)
            if TokenEstimator.estimate(candidate) > limit, !current.isEmpty {
                pieces.append(current.joined(separator: separator))
                current = [unit]
            } else {
                current.append(unit)
            }
        }
        if !current.isEmpty { pieces.append(current.joined(separator: separator)) }
        // A line still too long is cut between its words.
        return pieces.flatMap { piece in
            lines.count > 1 && TokenEstimator.estimate(piece) > limit ? split(piece.replacingOccurrences(of: "\n", with: " "), limit: limit) : [piece]
        }
    }
}
