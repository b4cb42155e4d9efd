import Foundation
import Testing

@testable import POC

/// docs/ROUTING.md quotes the judge prompt the binary carries, word for word.
@Suite struct JudgePromptDocumentTests {
    @Test func routingDocumentQuotesTheBuiltInJudgePrompt() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/ROUTING.md"), encoding: .utf8)
        #expect(document.contains("```text\n" + POCJudgePrompt.text + "\n```"))
    }

    @Test func theJudgeMessageQuotesTheTaskItsFormatAndTheAnswer() {
        let task = POCTask(id: "a", category: .simple, prompt: "Formatta questa lista\n#sim judge_score=2", expectedFormat: "json")
        #expect(
            POCJudgePrompt.message(task: task, answer: "[1, 2]")
                == "<task>\nFormatta questa lista\n#sim judge_score=2\n</task>\n<expected_format>json</expected_format>\n<answer>\n[1, 2]\n</answer>")
        #expect(POCJudgePrompt.text.hasPrefix(POCJudgePrompt.markerLine + "\n"))
        #expect(POCJudgePrompt.markerLine.hasPrefix("Cervella POC judge"))
    }
}
