import Providers
import Testing

/// `ThinkBlock.split`: R1-style reasoning is removed from the answer and kept apart.
@Suite("ThinkBlock")
struct ThinkBlockTests {
    @Test("text without a think block is the answer, with no reasoning")
    func noBlock() {
        let (answer, reasoning) = ThinkBlock.split("Paris is the capital of France.")
        #expect(answer == "Paris is the capital of France.")
        #expect(reasoning == nil)
    }

    @Test("text without a think block is returned unchanged, leading whitespace included")
    func noBlockKeepsText() {
        let (answer, reasoning) = ThinkBlock.split("  indented\ncode")
        #expect(answer == "  indented\ncode")
        #expect(reasoning == nil)
    }

    @Test("a closed block becomes the reasoning; the answer after it loses its leading blank lines")
    func closedBlock() {
        let (answer, reasoning) = ThinkBlock.split("<think>\nThe user wants a greeting.\n</think>\n\nHello there!")
        #expect(answer == "Hello there!")
        #expect(reasoning == "\nThe user wants a greeting.\n")
    }

    @Test("text before a closed block stays part of the answer")
    func textBeforeClosedBlock() {
        let (answer, reasoning) = ThinkBlock.split("Sure. <think>check the units</think> It is 42 km.")
        #expect(answer == "Sure.  It is 42 km.")
        #expect(reasoning == "check the units")
    }

    @Test("an unclosed block (the model ran out of tokens while thinking) leaves an empty answer")
    func unclosedBlock() {
        let (answer, reasoning) = ThinkBlock.split("<think>\nFirst I need to consider the")
        #expect(answer.isEmpty)
        #expect(reasoning == "\nFirst I need to consider the")
    }

    @Test("only a closing tag (vLLM's R1 chat template): everything before it is reasoning")
    func onlyClosingTag() {
        let (answer, reasoning) = ThinkBlock.split("The user asks for a haiku.\n</think>\n\nAutumn moonlight falls")
        #expect(answer == "Autumn moonlight falls")
        #expect(reasoning == "The user asks for a haiku.\n")
    }

    @Test("an empty string is an empty answer with no reasoning")
    func emptyText() {
        let (answer, reasoning) = ThinkBlock.split("")
        #expect(answer.isEmpty)
        #expect(reasoning == nil)
    }

    @Test("only the first block is reasoning; a later one stays in the answer")
    func secondBlockStaysInAnswer() {
        let (answer, reasoning) = ThinkBlock.split("<think>a</think>Answer <think>b</think>")
        #expect(reasoning == "a")
        #expect(answer == "Answer <think>b</think>")
    }
}
