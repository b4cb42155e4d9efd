import Testing

@testable import POC

/// Reading the judge's reply: what a person would read as a score is one; nothing is guessed.
@Suite struct JudgeReplyTests {
    @Test func theAskedFormatIsRead() throws {
        #expect(try JudgeReply.parse("SCORE: 4\nREASON: correct, one item missing.") == JudgeReply(score: 4, reason: "correct, one item missing."))
    }

    @Test(arguments: [
        ("**SCORE:** 5\n**REASON:** complete.", 5, "complete."),
        ("Score = 3\nReason - partial", 3, "partial"),
        ("score: 4/5 — accurate and short", 4, "accurate and short"),
        ("## Punteggio: 2\nMotivo: risposta evasiva", 2, "risposta evasiva"),
        ("Here is my judgement.\n\nSCORE: 1\nThe answer is empty.", 1, "The answer is empty."),
        ("4", 4, "(no reason given)"),
        ("Voto: 5 (perfetto)", 5, "perfetto"),
        ("SCORE:4\nREASON:   spread\n   over   spaces", 4, "spread"),
        ("- `SCORE: 3`\n- `REASON: ok`", 3, "ok"),
    ])
    func tolerantForms(reply: String, score: Int, reason: String) throws {
        let parsed = try JudgeReply.parse(reply)
        #expect(parsed.score == score)
        #expect(parsed.reason == reason)
    }

    @Test(arguments: [
        ("", "the judge's reply is empty"),
        ("The answer is fine.", "no \"SCORE: N\" line"),
        ("SCORE: 7\nREASON: great", "outside 1-5"),
        ("SCORE: 0", "outside 1-5"),
        ("SCORE: 4.5", "not a whole number"),
        ("SCORE: 8/10", "another scale"),
        ("SCORE: <a whole number from 1 to 5>", "no whole number"),
        ("SCORE: excellent", "no whole number"),
        ("Scores vary: 4", "no \"SCORE: N\" line"),
    ])
    func unreadableRepliesAreErrors(reply: String, expected: String) {
        #expect(throws: JudgeReply.ParseError.self) { try JudgeReply.parse(reply) }
        do {
            _ = try JudgeReply.parse(reply)
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    @Test func theReasonIsOneBoundedLine() throws {
        let parsed = try JudgeReply.parse("SCORE: 4\nREASON: " + String(repeating: "word ", count: 200))
        #expect(parsed.reason.count == JudgeReply.maxReason)
        #expect(parsed.reason.hasSuffix("…"))
        #expect(!parsed.reason.contains("\n"))
    }

    @Test func theFirstScoreLineWins() throws {
        #expect(try JudgeReply.parse("SCORE: 2\nREASON: wrong\nSCORE: 5").score == 2)
    }
}
