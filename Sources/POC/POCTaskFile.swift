import JobProtocol
import Scoring

/// The task file of `cervella poc` (`examples/poc/tasks.json` is the shipped one): JSON, an
/// object with a `tasks` array (and an optional `description`), or the array alone.
///
/// ```json
/// {"description": "…",
///  "tasks": [{"id": "formatta-lista", "category": "simple", "prompt": "Formatta questa lista in markdown: …",
///             "expected_format": "markdown", "task_type": "formatting"}]}
/// ```
/// Everything is checked before any model is called, and an error names the task (its
/// position and id) and the field: a typo found after twenty paid calls is a waste.
public enum POCTaskFile {
    public static let maxFileBytes = 32 * 1024 * 1024
    public static let maxTasks = 1_000
    /// Bytes of UTF-8 in one prompt (100 KB).
    public static let maxPromptBytes = 100_000
    public static let maxIDLength = 100
    public static let expectedFormats = ["json", "markdown"]
    static let taskFields = ["id", "category", "prompt", "expected_format", "task_type"]
    static let fileFields = ["tasks", "description"]

    /// Reads and checks the file at `path`.
    public static func load(path: String) throws(POCError) -> [POCTask] {
        try parse(BoundedFile.read(path, limit: maxFileBytes, code: .taskFile, what: "task file"), source: path)
    }

    /// Checks `bytes` as a task file; `source` names it in errors.
    public static func parse(_ bytes: [UInt8], source: String) throws(POCError) -> [POCTask] {
        func fail(_ message: String) -> POCError { POCError(.taskFile, "\(source): \(message)") }
        guard let document = JSONValue.read(bytes) else { throw fail("not valid JSON; check it with `python3 -m json.tool \(source)`") }
        let items: [JSONValue]
        switch document {
        case .array(let array):
            items = array
        case .object(let fields):
            if let unknown = fields.keys.sorted().first(where: { !fileFields.contains($0) }) {
                throw fail("unknown top-level field \(BoundedFile.quoted(unknown)); the file has \"tasks\" and an optional \"description\"")
            }
            guard case .array(let array)? = fields["tasks"] else { throw fail("\"tasks\" must be an array of tasks") }
            items = array
        default:
            throw fail("must be an object with a \"tasks\" array, or that array")
        }
        guard !items.isEmpty else { throw fail("has no tasks") }
        guard items.count <= maxTasks else { throw fail("has \(items.count) tasks, over \(maxTasks)") }
        var tasks: [POCTask] = []
        var positions: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let task = try parseTask(item, number: index + 1, fail: fail)
            if let earlier = positions[task.id] {
                throw fail("task \(index + 1) (\(BoundedFile.quoted(task.id))): id is also task \(earlier)'s; ids must be unique")
            }
            positions[task.id] = index + 1
            tasks.append(task)
        }
        guard tasks.contains(where: { $0.category == .simple }) else {
            throw fail("has no task with category \"simple\": the verdict's must-have (report 9.3) counts simple tasks")
        }
        return tasks
    }

    private static func parseTask(_ item: JSONValue, number: Int, fail: (String) -> POCError) throws(POCError) -> POCTask {
        guard case .object(let fields) = item else { throw fail("task \(number): must be an object with id, category and prompt") }
        let name = fields["id"]?.stringValue.map { " (\(BoundedFile.quoted($0)))" } ?? ""
        func problem(_ field: String, _ message: String) -> POCError { fail("task \(number)\(name): \"\(field)\" \(message)") }
        if let unknown = fields.keys.sorted().first(where: { !taskFields.contains($0) }) {
            throw fail("task \(number)\(name): unknown field \(BoundedFile.quoted(unknown)); a task has \(taskFields.joined(separator: ", "))")
        }
        guard let id = fields["id"]?.stringValue else { throw problem("id", "is required: a string naming the task") }
        guard (1...maxIDLength).contains(id.count), id.unicodeScalars.allSatisfy(isNameScalar) else {
            throw problem("id", "must be 1 to \(maxIDLength) letters, digits, '.', '_' or '-'")
        }
        guard let categoryName = fields["category"]?.stringValue else { throw problem("category", "is required: \"simple\" or \"medium\"") }
        guard let category = POCTask.Category(rawValue: categoryName) else {
            throw problem("category", "must be \"simple\" or \"medium\", not \(BoundedFile.quoted(categoryName))")
        }
        guard let prompt = fields["prompt"]?.stringValue else { throw problem("prompt", "is required: the task's whole text") }
        guard !prompt.allSatisfy(\.isWhitespace) else { throw problem("prompt", "is empty: give the task's text and its material") }
        guard prompt.utf8.count <= maxPromptBytes else {
            throw problem("prompt", "has \(prompt.utf8.count) bytes, over \(maxPromptBytes): shorten it")
        }
        var expectedFormat: String?
        if let value = fields["expected_format"], value != .null {
            guard let format = value.stringValue, expectedFormats.contains(format) else {
                throw problem("expected_format", "must be \(expectedFormats.map { "\"\($0)\"" }.joined(separator: " or ")), or left out")
            }
            expectedFormat = format
        }
        var taskType: String?
        if let value = fields["task_type"], value != .null {
            guard let type = value.stringValue, (1...LabelledOutcome.maxTaskType).contains(type.count), type.unicodeScalars.allSatisfy(isNameScalar)
            else {
                throw problem(
                    "task_type",
                    "must be 1 to \(LabelledOutcome.maxTaskType) letters, digits, '.', '_' or '-' (it becomes a metric label), or left out")
            }
            taskType = type
        }
        return POCTask(id: id, category: category, prompt: prompt, expectedFormat: expectedFormat, taskType: taskType)
    }

    private static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar))
    }
}
