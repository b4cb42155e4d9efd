import JobProtocol

/// A human judge's scores (`--scores FILE`): a JSON object from task id to the small model's
/// score, or to an object that also scores Claude's answer and says why.
///
/// ```json
/// {"leggi-prompt-ripresa": 4,
///  "commit-fix-bug": {"score": 2, "claude_score": 5, "reason": "wrong scope in the subject"}}
/// ```
/// An id that is not a task of the run is an error (a typo would otherwise leave a task
/// unscored); a task without a score is reported as not judged.
public struct HumanScores: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var score: Int
        public var claudeScore: Int?
        public var reason: String?

        public init(score: Int, claudeScore: Int? = nil, reason: String? = nil) {
            self.score = score
            self.claudeScore = claudeScore
            self.reason = reason
        }
    }

    public var entries: [String: Entry]
    /// The file's path, named in the report as the judge.
    public var source: String

    public init(entries: [String: Entry], source: String) {
        self.entries = entries
        self.source = source
    }

    public static let maxFileBytes = 4 * 1024 * 1024

    public static func load(path: String, tasks: [POCTask]) throws(POCError) -> HumanScores {
        try parse(BoundedFile.read(path, limit: maxFileBytes, code: .scoresFile, what: "scores file"), source: path, tasks: tasks)
    }

    public static func parse(_ bytes: [UInt8], source: String, tasks: [POCTask]) throws(POCError) -> HumanScores {
        func fail(_ message: String) -> POCError { POCError(.scoresFile, "\(source): \(message)") }
        guard case .object(let fields)? = JSONValue.read(bytes) else {
            throw fail("must be a JSON object from task id to score, such as {\"leggi-prompt-ripresa\": 4}")
        }
        let ids = Set(tasks.map(\.id))
        var entries: [String: Entry] = [:]
        for (id, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard ids.contains(id) else { throw fail("\(BoundedFile.quoted(id)) is not the id of a task in this run") }
            func score(_ value: JSONValue, _ field: String) throws(POCError) -> Int {
                guard let number = value.doubleValue, number.isFinite, number.rounded() == number, (1...5).contains(number) else {
                    throw fail("task \(BoundedFile.quoted(id)): \(field) must be a whole number from 1 to 5")
                }
                return Int(number)
            }
            switch value {
            case .object(let entry):
                if let unknown = entry.keys.sorted().first(where: { !["score", "claude_score", "reason"].contains($0) }) {
                    throw fail("task \(BoundedFile.quoted(id)): unknown field \(BoundedFile.quoted(unknown)); use score, claude_score, reason")
                }
                guard let small = entry["score"] else { throw fail("task \(BoundedFile.quoted(id)): \"score\" is required") }
                var reason: String?
                if let text = entry["reason"], text != .null {
                    guard let string = text.stringValue, string.count <= JudgeReply.maxReason else {
                        throw fail("task \(BoundedFile.quoted(id)): \"reason\" must be a string of at most \(JudgeReply.maxReason) characters")
                    }
                    reason = string.split(whereSeparator: \.isWhitespace).joined(separator: " ")
                }
                var claude: Int?
                if let value = entry["claude_score"], value != .null { claude = try score(value, "\"claude_score\"") }
                entries[id] = Entry(score: try score(small, "\"score\""), claudeScore: claude, reason: reason)
            default:
                entries[id] = Entry(score: try score(value, "the score"))
            }
        }
        return HumanScores(entries: entries, source: source)
    }
}
