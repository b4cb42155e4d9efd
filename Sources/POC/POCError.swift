/// Why `cervella poc` cannot run: a bad task file, scores file or judge prompt, or an output
/// that cannot be written. The message names the file, the task and the field, and says
/// what to fix.
public struct POCError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let taskFile = Code(name: "task_file")
        public static let scoresFile = Code(name: "scores_file")
        public static let judgePrompt = Code(name: "judge_prompt")
        public static let output = Code(name: "output")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
