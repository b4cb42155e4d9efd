import Foundation
import Testing

@testable import POC

/// The task file: the shipped set, and errors that name the task and the field.
@Suite struct POCTaskFileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func parse(_ text: String) throws(POCError) -> [POCTask] {
        try POCTaskFile.parse(Array(text.utf8), source: "tasks.json")
    }

    func message(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "no error"
        } catch {
            #expect(error.code == .taskFile)
            return error.message
        }
    }

    @Test func theShippedSetHasTenSimpleAndEightMediumTasksInTheReportsWords() throws {
        let tasks = try POCTaskFile.load(path: Self.root.appendingPathComponent("examples/poc/tasks.json").path)
        #expect(tasks.filter { $0.category == .simple }.count == 10)
        #expect(tasks.filter { $0.category == .medium }.count == 8)
        let openings = ["Leggi PROMPT_RIPRESA.md e fai summary", "Genera git commit message per: fix bug X", "Formatta questa lista in markdown"]
        for opening in openings { #expect(tasks.contains { $0.prompt.hasPrefix(opening) }, "\(opening)") }
        // Every task carries its material: an instruction alone could not be judged.
        #expect(tasks.allSatisfy { $0.prompt.count >= 250 }, "\(tasks.filter { $0.prompt.count < 250 }.map(\.id))")
        #expect(tasks.allSatisfy { $0.taskType == $0.category.rawValue })
        #expect(tasks.filter { $0.expectedFormat == "json" }.count == 1)
    }

    @Test func aBareArrayAndTheOptionalFieldsAreRead() throws {
        let tasks = try parse(
            #"[{"id":"a","category":"simple","prompt":"Formatta: x","expected_format":"markdown","task_type":"formatting"},"#
                + #"{"id":"b.2_c-d","category":"medium","prompt":"Spiega","expected_format":null}]"#)
        #expect(
            tasks == [
                POCTask(id: "a", category: .simple, prompt: "Formatta: x", expectedFormat: "markdown", taskType: "formatting"),
                POCTask(id: "b.2_c-d", category: .medium, prompt: "Spiega"),
            ])
        #expect(tasks[1].taskType == "medium")
    }

    @Test func errorsNameTheTaskAndTheField() {
        #expect(
            message(#"{"tasks":[{"id":"a","category":"simple","prompt":"x"},{"id":"b","category":"easy","prompt":"y"}]}"#)
                == #"tasks.json: task 2 ("b"): "category" must be "simple" or "medium", not "easy""#)
        #expect(message(#"[{"id":"a","category":"simple"}]"#) == #"tasks.json: task 1 ("a"): "prompt" is required: the task's whole text"#)
        #expect(message(#"[{"id":"a","category":"simple","prompt":"  \n "}]"#).contains(#"task 1 ("a"): "prompt" is empty"#))
        #expect(message(#"[{"category":"simple","prompt":"x"}]"#) == #"tasks.json: task 1: "id" is required: a string naming the task"#)
        #expect(message(#"[{"id":"a b","category":"simple","prompt":"x"}]"#).contains(#"task 1 ("a b"): "id" must be 1 to 100 letters"#))
        #expect(
            message(#"[{"id":"a","category":"simple","prompt":"x","expected_fromat":"json"}]"#)
                .contains(#"task 1 ("a"): unknown field "expected_fromat""#))
        #expect(
            message(#"[{"id":"a","category":"simple","prompt":"x","expected_format":"yaml"}]"#)
                .contains(#"task 1 ("a"): "expected_format" must be "json" or "markdown""#))
        #expect(message(#"[{"id":"a","category":"simple","prompt":"x","task_type":"a/b"}]"#).contains(#"task 1 ("a"): "task_type" must be"#))
        #expect(
            message(#"[{"id":"a","category":"simple","prompt":"x"},{"id":"a","category":"medium","prompt":"y"}]"#)
                == #"tasks.json: task 2 ("a"): id is also task 1's; ids must be unique"#)
        #expect(message(#"[{"id":"a","category":"simple","prompt":5}]"#).contains(#""prompt" is required"#))
        #expect(message(#"[7]"#) == "tasks.json: task 1: must be an object with id, category and prompt")
    }

    @Test func sizesAreBounded() {
        let long = String(repeating: "a", count: POCTaskFile.maxPromptBytes + 1)
        #expect(
            message(#"[{"id":"big","category":"simple","prompt":"\#(long)"}]"#)
                == #"tasks.json: task 1 ("big"): "prompt" has 100001 bytes, over 100000: shorten it"#)
        let many = (0...POCTaskFile.maxTasks).map { #"{"id":"t\#($0)","category":"simple","prompt":"x"}"# }.joined(separator: ",")
        #expect(message("[\(many)]") == "tasks.json: has 1001 tasks, over 1000")
        #expect(message("[]") == "tasks.json: has no tasks")
        #expect(message(#"[{"id":"m","category":"medium","prompt":"x"}]"#).contains("has no task with category \"simple\""))
        #expect(message("{\"tasks\": [").hasPrefix("tasks.json: not valid JSON"))
        #expect(message(#"{"tasks":[],"extra":1}"#).contains(#"unknown top-level field "extra""#))
    }

    @Test func aFileThatIsNotThereOrTooLargeIsRefused() throws {
        #expect(throws: POCError.self) { try POCTaskFile.load(path: "/nonexistent/tasks.json") }
        do {
            _ = try POCJudgePrompt.load(path: "/dev/zero")
            Issue.record("/dev/zero was read")
        } catch {
            #expect(error.message.contains("is over 65536 bytes"))
        }
    }
}
