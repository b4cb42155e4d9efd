/// One task of a POC run: a prompt the small model and Claude both answer, and the category
/// whose pass count the verdict reads (report 5.2, 9.3).
public struct POCTask: Sendable, Equatable {
    /// Tier 1's and tier 2's task types in report 2.2: the verdict's must-have counts the
    /// simple ones, its nice-to-have the medium ones.
    public enum Category: String, Sendable, CaseIterable {
        case simple, medium
    }

    /// 1–100 characters of letters, digits, `.`, `_` and `-`: it names the task in the
    /// report, in a human judge's scores file and in the labelled outcomes.
    public var id: String
    public var category: Category
    /// The whole user message, with the material to work on (the list to format, the diff,
    /// the document to summarise), so that an answer can be judged.
    public var prompt: String
    /// `json` or `markdown`: what the confidence heuristic checks, and what the judge is told.
    public var expectedFormat: String?
    /// The labelled outcome's `task_type`; the category unless the file says otherwise.
    public var taskType: String

    public init(id: String, category: Category, prompt: String, expectedFormat: String? = nil, taskType: String? = nil) {
        self.id = id
        self.category = category
        self.prompt = prompt
        self.expectedFormat = expectedFormat
        self.taskType = taskType ?? category.rawValue
    }
}
