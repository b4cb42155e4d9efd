import Foundation
import JobProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// One thing `cervella batch` sends: a document to summarise, or a request as `/api/chat`'s.
public struct BatchItem: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        /// A file's text; `name` is its path relative to the input folder.
        case document(name: String, text: String)
        /// A JSONL line.
        case request(BatchRequest)
    }

    /// Unique in the run: a document's relative path, a line's `id` (or `line-<n>`).
    public var id: String
    /// Where it came from: the file's path, or `<file>:<line>`.
    public var source: String
    public var content: Content
}

/// A JSONL line's request: `/api/chat`'s fields.
public struct BatchRequest: Sendable, Equatable {
    public var messages: [ChatMessage]
    public var tierHint: String
    public var forceModel: String?
    public var enableFallback: Bool
}

/// An input that could not be read, with where it is and what to fix; it is skipped.
public struct BatchProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var source: String
    public var message: String
    public var description: String { "\(source): \(message)" }
}

/// Reads `cervella batch`'s input: a folder of text files (recursively) or a JSONL of requests.
public enum BatchInput {
    /// The fields a JSONL line may hold: `/api/chat`'s, and `id`.
    public static let lineFields: Set<String> = ["id", "message", "context", "tier_hint", "force_model", "enable_fallback"]
    /// Files larger than this are reported and skipped (a batch reads every file into memory).
    public static let maxFileBytes = 16 << 20
    /// Lines longer than this are reported and skipped.
    public static let maxLineBytes = 1 << 20

    /// The items at `path`: every file under a folder whose relative path or name matches one of
    /// `globs` (`*.md`, `notes/**`: `fnmatch`), in path order; or each line of a JSONL file.
    public static func read(path: String, globs: [String]) throws(BatchInputError) -> (items: [BatchItem], problems: [BatchProblem]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw BatchInputError("\(path) does not exist; give a folder of text files or a JSONL file of requests")
        }
        if isDirectory.boolValue { return folder(path, globs: globs) }
        guard let data = FileManager.default.contents(atPath: path) else { throw BatchInputError("cannot read \(path)") }
        return lines(data, file: path)
    }

    static func folder(_ root: String, globs: [String]) -> (items: [BatchItem], problems: [BatchProblem]) {
        let base = URL(fileURLWithPath: root).standardizedFileURL
        var items: [BatchItem] = []
        var problems: [BatchProblem] = []
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey]) else {
            return ([], [BatchProblem(source: root, message: "cannot list the folder")])
        }
        var paths: [(relative: String, url: URL)] = []
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(base.path.count).drop { $0 == "/" })
            guard matches(relative, globs: globs) else { continue }
            paths.append((relative, url))
        }
        for (relative, url) in paths.sorted(by: { $0.relative < $1.relative }) {
            let size = (try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0
            guard size <= maxFileBytes else {
                problems.append(BatchProblem(source: url.path, message: "\(size) bytes; files over \(maxFileBytes) bytes are skipped"))
                continue
            }
            guard let data = FileManager.default.contents(atPath: url.path) else {
                problems.append(BatchProblem(source: url.path, message: "cannot be read (permissions?)"))
                continue
            }
            guard let text = String(data: data, encoding: .utf8) else {
                problems.append(BatchProblem(source: url.path, message: "is not UTF-8 text"))
                continue
            }
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                problems.append(BatchProblem(source: url.path, message: "is empty"))
                continue
            }
            items.append(BatchItem(id: relative, source: url.path, content: .document(name: relative, text: text)))
        }
        return (items, problems)
    }

    static func matches(_ relative: String, globs: [String]) -> Bool {
        let name = (relative as NSString).lastPathComponent
        return globs.contains { glob in fnmatch(glob, relative, 0) == 0 || fnmatch(glob, name, 0) == 0 }
    }

    static func lines(_ data: Data, file: String) -> (items: [BatchItem], problems: [BatchProblem]) {
        var items: [BatchItem] = []
        var problems: [BatchProblem] = []
        var seen: Set<String> = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let source = "\(file):\(number)"
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard line.count <= maxLineBytes else {
                problems.append(BatchProblem(source: source, message: "line of \(line.count) bytes; lines over \(maxLineBytes) are skipped"))
                continue
            }
            switch request(Data(line), number: number) {
            case .failure(let problem):
                problems.append(BatchProblem(source: source, message: problem.message))
            case .success(let item):
                guard seen.insert(item.id).inserted else {
                    problems.append(BatchProblem(source: source, message: "id '\(item.id)' was used on an earlier line; ids must be unique"))
                    continue
                }
                items.append(BatchItem(id: item.id, source: source, content: item.content))
            }
        }
        return (items, problems)
    }

    static func request(_ line: Data, number: Int) -> Result<BatchItem, BatchProblem> {
        func problem(_ message: String) -> Result<BatchItem, BatchProblem> { .failure(BatchProblem(source: "", message: message)) }
        guard case .object(let fields)? = JSONValue.read(Array(line)) else { return problem("not a JSON object") }
        let unknown = fields.keys.filter { !lineFields.contains($0) }.sorted()
        if !unknown.isEmpty {
            return problem(
                "unsupported field '\(unknown[0].prefix(64))': a line may hold \(lineFields.sorted().map { "'\($0)'" }.joined(separator: ", "))")
        }
        var id = "line-\(number)"
        switch fields["id"] {
        case nil, .null?: break
        case .string(let text)? where !text.isEmpty && text.utf8.count <= JobLimits.maxIDLength: id = text
        case .integer(let value)?: id = String(value)
        default: return problem("'id' must be a string of 1 to \(JobLimits.maxIDLength) bytes, or an integer")
        }
        guard case .string(let message)? = fields["message"], !message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return problem("'message' must be a non-empty string")
        }
        var context: [String: JSONValue]?
        switch fields["context"] {
        case nil, .null?: break
        case .object(let object)?: context = object
        default: return problem("'context' must be an object")
        }
        var tierHint = "auto"
        switch fields["tier_hint"] {
        case nil, .null?: break
        case .string(let hint)? where ["auto", "simple", "medium", "complex"].contains(hint): tierHint = hint
        default: return problem("'tier_hint' must be auto, simple, medium or complex")
        }
        var forceModel: String?
        switch fields["force_model"] {
        case nil, .null?: break
        case .string(let model)?: forceModel = model
        default: return problem("'force_model' must be a string")
        }
        var enableFallback = true
        switch fields["enable_fallback"] {
        case nil, .null?: break
        case .bool(let value)?: enableFallback = value
        default: return problem("'enable_fallback' must be true or false")
        }
        let messages = ChatMessage.context(context) + [ChatMessage(role: "user", content: message)]
        let request = BatchRequest(messages: messages, tierHint: tierHint, forceModel: forceModel, enableFallback: enableFallback)
        return .success(BatchItem(id: id, source: "", content: .request(request)))
    }
}

public struct BatchInputError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
