/// The judge's verdict on one answer, read from its reply: `SCORE: 4` and `REASON: …`.
///
/// Models rarely keep to a format exactly, so the reader accepts what a person would read
/// as a score: Markdown emphasis (`**SCORE:** 4`), `Score = 4`, `4/5`, the Italian labels
/// (`Punteggio`, `Voto`, `Motivo`), a reason on the same line, or a reply that is a bare
/// number. What it does not accept is a number outside 1–5, a fraction, another scale
/// (`8/10`) or no number at all: that task is then reported as not judged, never guessed.
public struct JudgeReply: Sendable, Equatable {
    public var score: Int
    /// One line, at most ``maxReason`` characters.
    public var reason: String

    public init(score: Int, reason: String) {
        self.score = score
        self.reason = reason
    }

    public static let maxReason = 300

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    static let scoreLabels = ["score", "punteggio", "voto"]
    static let reasonLabels = ["reason", "motivazione", "motivo", "perché", "perche"]

    public static func parse(_ reply: String) throws(ParseError) -> JudgeReply {
        let lines = reply.split(whereSeparator: \.isNewline).map { normalised($0) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw ParseError("the judge's reply is empty") }
        var found: (score: Int, rest: String, line: Int)?
        for (index, line) in lines.enumerated() {
            guard let rest = afterLabel(line, labels: scoreLabels) else { continue }
            let (score, tail) = try number(rest, line: line)
            found = (score, tail, index)
            break
        }
        if found == nil, let first = lines.first, first.first?.isNumber == true {
            // A reply that is only the number ("4", "4/5").
            let (score, tail) = try number(first, line: first)
            if tail.isEmpty { found = (score, "", 0) }
        }
        guard let found else {
            throw ParseError("the judge's reply has no \"SCORE: N\" line (it begins \(BoundedFile.quoted(lines[0])))")
        }
        var reason = lines.lazy.compactMap { afterLabel($0, labels: reasonLabels) }.first ?? ""
        if reason.isEmpty { reason = found.rest }
        if reason.isEmpty, found.line + 1 < lines.count { reason = lines[found.line + 1] }
        let collapsed = reason.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let cut = collapsed.count > maxReason ? String(collapsed.prefix(maxReason - 1)) + "…" : collapsed
        return JudgeReply(score: found.score, reason: cut.isEmpty ? "(no reason given)" : cut)
    }

    /// The line without Markdown decoration: emphasis and code marks anywhere, heading, quote
    /// and list marks in front, surrounding whitespace.
    private static func normalised(_ line: Substring) -> String {
        var text = line.filter { $0 != "*" && $0 != "`" }
        while let first = text.first, first == "#" || first == ">" || first == "-" || first == "_" || first.isWhitespace {
            text.removeFirst()
        }
        while let last = text.last, last == "_" || last.isWhitespace { text.removeLast() }
        return text
    }

    /// What follows `label` and its separator (`:`, `=`, `-`), when the line starts with one
    /// of `labels` as a whole word.
    private static func afterLabel(_ line: String, labels: [String]) -> String? {
        let lower = line.lowercased()
        guard let label = labels.first(where: { lower.hasPrefix($0) }) else { return nil }
        var rest = Substring(line.dropFirst(label.count))
        guard rest.first.map({ !$0.isLetter }) ?? true else { return nil }
        while let first = rest.first, first.isWhitespace || ":=-–—_".contains(first) { rest.removeFirst() }
        return String(rest)
    }

    /// The whole number at the start of `text` (1–5, optionally `/5`) and what follows it.
    private static func number(_ text: String, line: String) throws(ParseError) -> (Int, String) {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 3, let value = Int(digits) else {
            throw ParseError("the judge's score line has no whole number: \(BoundedFile.quoted(line))")
        }
        var rest = text.dropFirst(digits.count)
        if let first = rest.first, first == "." || first == ",", rest.dropFirst().first?.isNumber == true {
            throw ParseError("the judge's score is not a whole number: \(BoundedFile.quoted(line))")
        }
        let trimmed = rest.drop { $0 == " " }
        if trimmed.first == "/" {
            let scale = trimmed.dropFirst().drop { $0 == " " }.prefix { $0.isASCII && $0.isNumber }
            guard scale == "5" else { throw ParseError("the judge scored on another scale than 1-5: \(BoundedFile.quoted(line))") }
            rest = trimmed.dropFirst().drop { $0 == " " }.dropFirst(scale.count)
        }
        guard (1...5).contains(value) else { throw ParseError("the judge's score \(value) is outside 1-5") }
        let tail = rest.drop { $0.isWhitespace || ".:;,-–—()".contains($0) }
        return (value, String(tail.hasSuffix(")") ? tail.dropLast() : tail))
    }
}
