import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ProviderSimulator

/// The simulator as `cervella poc`'s judge: a Messages request whose system prompt is the judge
/// prompt gets a score derived from the judged answer.
@Suite struct JudgeRouteTests {
    static let judgePrompt = "Cervella POC judge, prompt v1\nYou judge one answer of an AI assistant to one task."

    static func judgeBody(task: String, answer: String, format: String? = nil, extra: [String: Any] = [:]) -> ByteBuffer {
        var message = "<task>\n\(task)\n</task>\n"
        if let format { message += "<expected_format>\(format)</expected_format>\n" }
        message += "<answer>\n\(answer)\n</answer>"
        return Sim.messagesBody(message, maxTokens: 300, extra: ["system": judgePrompt, "temperature": 0].merging(extra) { $1 })
    }

    static func reply(_ client: any TestClientProtocol, task: String, answer: String, format: String? = nil) async throws -> String {
        let response = try await Sim.messages(client, judgeBody(task: task, answer: answer, format: format))
        #expect(response.status == .ok)
        return try Sim.text(Sim.json(response))
    }

    static let task = "Formatta questa lista in markdown:\nfrontend: pagina di stato, bottone feedback\nbackend: endpoint feedback"

    @Test func aPlainAnswerThatWorksWithTheTaskScoresFiveInAnthropicsShape() async throws {
        try await Sim.withRouter { client in
            let response = try await Sim.messages(
                client, Self.judgeBody(task: Self.task, answer: "## Lista\n- frontend: pagina di stato\n- backend: endpoint feedback"))
            #expect(response.status == .ok)
            let body = try Sim.json(response)
            #expect((body["id"] as? String)?.hasPrefix("msg_01") == true)
            #expect(body["stop_reason"] as? String == "end_turn")
            let text = try Sim.text(body)
            #expect(text.hasPrefix("SCORE: 5\nREASON: simulated judge: a complete answer"))
            let usage = try #require(body["usage"] as? [String: Any])
            #expect((usage["input_tokens"] as? Int ?? 0) > 20)
            #expect(usage["output_tokens"] as? Int == SimTokens.split(text).count)
        }
    }

    @Test func scoresFollowTheAnswer() async throws {
        try await Sim.withRouter { client in
            let reply1 = try await Self.reply(client, task: Self.task, answer: "")
            #expect(reply1.hasPrefix("SCORE: 1\n"))
            let reply2 = try await Self.reply(client, task: Self.task, answer: "Non sono sicuro, forse dipende da frontend. Potrei sbagliarmi.")
            #expect(reply2.hasPrefix("SCORE: 2\n"))
            let reply3 = try await Self.reply(client, task: Self.task, answer: "I’m not sure, maybe it depends.")
            #expect(reply3.hasPrefix("SCORE: 2\n"))
            let reply4 = try await Self.reply(client, task: Self.task, answer: "OK.")
            #expect(reply4.hasPrefix("SCORE: 2\n"))
            let reply5 = try await Self.reply(client, task: "Genera i casi", answer: "Ecco i casi di test richiesti, uno per riga.", format: "json")
            #expect(reply5.hasPrefix("SCORE: 3\n"))
            let reply6 = try await Self.reply(client, task: "Genera i casi", answer: #"[{"input": [0.5, 0.7], "expected": false}]"#, format: "json")
            #expect(reply6.hasPrefix("SCORE: 4\n"))
            let reply7 = try await Self.reply(client, task: Self.task, answer: "Una risposta utilizzabile ma generica su tutt'altro.")
            #expect(reply7.hasPrefix("SCORE: 4\n"))
        }
    }

    @Test func aJudgeScoreDirectiveInTheQuotedTaskDecides() async throws {
        try await Sim.withRouter { client in
            let task = Self.task + "\n#sim judge_score=2"
            let reply8 = try await Self.reply(client, task: task, answer: "## Lista\n- frontend: pagina di stato\n- backend: endpoint feedback")
            #expect(
                reply8
                    == "SCORE: 2\nREASON: simulated judge: the task's #sim judge_score directive sets this score.")
            // A scoped line counts too: the judge obeys judge_score from any line.
            let reply9 = try await Self.reply(client, task: Self.task + "\n#sim openai evasive judge_score=1", answer: "x")
            #expect(reply9.hasPrefix("SCORE: 1\n"))
        }
    }

    @Test func theQuotedTasksOtherDirectivesAreNotTheJudges() async throws {
        try await Sim.withRouter { client in
            let task = Self.task + "\n#sim anthropic status=503 empty"
            let reply10 = try await Self.reply(client, task: task, answer: "## Lista\n- frontend: pagina di stato\n- backend: endpoint")
            #expect(reply10.hasPrefix("SCORE: 5\n"))
            // The same line fails an ordinary Claude call.
            let plain = try await Sim.messages(client, Sim.messagesBody(task))
            #expect(plain.status.code == 503)
        }
    }

    @Test func otherSystemPromptsGetOrdinaryAnswers() async throws {
        try await Sim.withRouter { client in
            let body = Sim.messagesBody("<answer>\nx\n</answer>", extra: ["system": "You are terse.\nCervella POC judge, prompt v1"])
            let text = try Sim.text(Sim.json(try await Sim.messages(client, body)))
            #expect(!text.hasPrefix("SCORE:"))
            #expect(JudgeWriter.isJudgePrompt("\n  Cervella POC judge, prompt v2\nrest"))
            #expect(!JudgeWriter.isJudgePrompt(""))
        }
    }

    @Test func aStreamedJudgeRequestStreamsTheScore() async throws {
        try await Sim.withRouter { client in
            let response = try await Sim.messages(client, Self.judgeBody(task: Self.task, answer: "", extra: ["stream": true]))
            #expect(response.status == .ok)
            let body = Sim.string(response)
            #expect(body.contains("event: message_stop"))
            #expect(body.contains("SCORE"))
        }
    }

    @Test func judgeScoreIsOneToFive() {
        #expect(SimDirectives.parse("#sim judge_score=1").directives.judgeScore == 1)
        #expect(SimDirectives.parse("#sim judge_score=5").directives.summary == "judge_score=5")
        let bad = SimDirectives.parse("#sim judge_score=0 judge_score=6 judge_score=x").directives
        #expect(bad.judgeScore == nil && bad.ignored == ["judge_score=0", "judge_score=6", "judge_score=x"])
        #expect(!SimDirectives.parse("#sim judge_score=3").directives.decidesOutcome)
    }
}
