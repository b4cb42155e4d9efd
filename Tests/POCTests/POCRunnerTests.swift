import Foundation
import JobProtocol
import Providers
import Scoring
import Settings
import Synchronization
import Testing

@testable import POC

/// A provider that answers from a closure: the runner's rules without a network.
struct StubProvider: ChatProvider {
    let model: String
    let health = EndpointHealth(endpoints: ["stub"], activeProbing: false)
    let respond: @Sendable (ProviderRequest) async throws(ProviderError) -> ProviderResponse

    func complete(_ request: ProviderRequest) async throws(ProviderError) -> ProviderResponse { try await respond(request) }
}

extension ProviderRequest {
    var isJudge: Bool { messages.first?.role == "system" }
    var lastText: String { messages.last?.text ?? "" }
}

/// The runner, its report and its outcomes, on stub providers.
@Suite struct POCRunnerTests {
    static let answer = "Ecco la lista formattata con un titolo e una sottolista per ogni area, come richiesto."

    static func small(_ respond: (@Sendable (ProviderRequest) async throws(ProviderError) -> ProviderResponse)? = nil) -> StubProvider {
        StubProvider(model: "qwen3-4b") { request throws(ProviderError) in
            if let respond { return try await respond(request) }
            return ProviderResponse(
                text: answer, tokensInput: 40, tokensOutput: 20, tokenLogprobs: Array(repeating: -0.05, count: 20), model: "qwen3-4b")
        }
    }

    /// Claude: answers tasks, and judges with `judge` (default: 5, or what a `score=N` word in the task says).
    static func claude(judge: (@Sendable (ProviderRequest) throws(ProviderError) -> String)? = nil) -> StubProvider {
        StubProvider(model: "claude-sonnet-4-5") { request throws(ProviderError) in
            guard request.isJudge else {
                return ProviderResponse(text: "Risposta di Claude, completa e precisa.", tokensInput: 40, tokensOutput: 100, model: "claude")
            }
            if let judge { return ProviderResponse(text: try judge(request), tokensInput: 300, tokensOutput: 20, model: "claude") }
            let forced = request.lastText.split(separator: " ").first { $0.hasPrefix("score=") }.map { String($0.dropFirst(6)) }
            return ProviderResponse(text: "SCORE: \(forced ?? "5")\nREASON: ok.", tokensInput: 300, tokensOutput: 20, model: "claude")
        }
    }

    static func runner(small: StubProvider = small(), claude: StubProvider = claude(), judge: POCRunner.Judge = .model(prompt: POCJudgePrompt.text))
        -> POCRunner
    {
        POCRunner(
            small: small, smallSettings: .defaults(tier: .tier1), smallTimeoutMs: 10_000, claude: claude, claudeSettings: .defaults(tier: .tier3),
            judge: judge, concurrency: 4)
    }

    static func tasks(simple: Int = 10, medium: Int = 8, prompt: (Int) -> String = { "Formatta questa lista in markdown: \($0)" }) -> [POCTask] {
        (0..<simple).map { POCTask(id: "s\($0)", category: .simple, prompt: prompt($0), expectedFormat: $0 == 0 ? "markdown" : nil) }
            + (0..<medium).map { POCTask(id: "m\($0)", category: .medium, prompt: "Analizza il bug \($0)") }
    }

    static func report(_ results: [POCResult]) -> POCReport {
        POCReport(
            results: results, tasksFile: "tasks.json", judge: "claude (tier 3)", smallModel: "qwen3-4b", claudeModel: "claude-sonnet-4-5",
            startedAt: 1_767_225_600, finishedAt: 1_767_225_612.5, concurrency: 4)
    }

    @Test func everyTaskIsAnsweredByBothAndJudgedInTheTasksOrder() async {
        let seen = Mutex(0)
        let results = await Self.runner().run(Self.tasks()) { _ in seen.withLock { $0 += 1 } }
        #expect(results.map(\.task.id) == Self.tasks().map(\.id))
        #expect(seen.withLock { $0 } == 18)
        let summary = Self.report(results).summary
        #expect(summary.simplePassed == 10 && summary.mediumPassed == 8)
        #expect(summary.verdict.isGo)
        #expect(summary.smallCostPerAnswerUSD == TierSettings.defaults(tier: .tier1).costUSD(inputTokens: 40, outputTokens: 20))
        #expect(summary.claudeCostPerAnswerUSD == TierSettings.defaults(tier: .tier3).costUSD(inputTokens: 40, outputTokens: 100))
        #expect(abs(summary.judgeCostUSD - 36 * TierSettings.defaults(tier: .tier3).costUSD(inputTokens: 300, outputTokens: 20)) < 1e-12)
        let first = results[0]
        let logprobs = Array(repeating: -0.05, count: 20)
        #expect(first.confidence == ConfidenceScorer(method: .auto).score(answer: Self.answer, tokenLogprobs: logprobs, expectedFormat: "markdown"))
        // The heuristic's format miss (markdown without a heading) is under the logprobs' 0.95.
        #expect(first.confidence.map { abs($0 - 0.8) < 1e-9 } == true)
        #expect(first.features?.signals == [.formatMiss])
        #expect(
            first.small.judgement
                == POCJudgement(score: 5, reason: "ok.", costUSD: TierSettings.defaults(tier: .tier3).costUSD(inputTokens: 300, outputTokens: 20)))
    }

    @Test func anUnreadableJudgeReplyIsAnErrorForThatTaskNotACrash() async {
        let claude = Self.claude { request throws(ProviderError) in
            request.lastText.contains("bug 3") ? "The answer is decent overall." : "SCORE: 4\nREASON: fine."
        }
        let results = await Self.runner(claude: claude).run(Self.tasks())
        let broken = results.first { $0.task.id == "m3" }!
        #expect(broken.small.judgement?.score == nil)
        #expect(broken.small.judgement?.error?.hasPrefix("the judge's reply could not be read: the judge's reply has no \"SCORE: N\" line") == true)
        #expect(!broken.small.passed)
        let report = Self.report(results)
        #expect(report.summary.unjudged == 1)
        #expect(report.summary.mediumPassed == 7)
        #expect(report.summary.verdict.isGo)
        #expect(report.text().contains("m3: small model's answer not judged: the judge's reply could not be read"))
        #expect(
            report.verdictSentence.hasSuffix(
                "; the nice-to-have, medium tasks, is met and does not decide. 1 answer of the small model could not be judged and counts as failed"))
        #expect(report.outcomes().count == 17)
    }

    @Test func aStopThatUnjudgedSimpleAnswersCouldTurnSaysSo() async {
        let claude = Self.claude { request throws(ProviderError) in
            ["in markdown: 0\n", "in markdown: 1\n", "in markdown: 2\n"].contains { request.lastText.contains($0) }
                ? "Good." : "SCORE: 5\nREASON: ok."
        }
        let report = Self.report(await Self.runner(claude: claude).run(Self.tasks()))
        #expect(report.summary.simplePassed == 7 && report.summary.unjudgedSimple == 3 && report.summary.unjudged == 3)
        #expect(report.summary.verdictHangsOnUnjudged)
        #expect(report.verdictSentence.hasPrefix("STOP: must-have not met: simple tasks"))
        #expect(
            report.verdictSentence.hasSuffix(
                "3 answers of the small model could not be judged and count as failed; scoring them could turn the verdict to GO"))
    }

    @Test func transientJudgeFailuresAreRetried() async {
        let calls = Mutex(0)
        let claude = Self.claude { _ throws(ProviderError) in
            let call = calls.withLock { count in
                count += 1
                return count
            }
            if call == 1 { throw ProviderError(.http5xx, "overloaded", status: 529) }
            return "SCORE: 4\nREASON: fine."
        }
        let results = await Self.runner(claude: claude).run([POCTask(id: "a", category: .simple, prompt: "x")])
        #expect(calls.withLock { $0 } == 3)
        #expect(results[0].small.judgement?.score == 4 && results[0].claude.judgement?.score == 4)
    }

    @Test func aJudgeThatKeepsFailingLeavesTheTaskUnjudged() async {
        let claude = Self.claude { _ throws(ProviderError) in throw ProviderError(.http4xx, "invalid x-api-key", status: 401) }
        let results = await Self.runner(claude: claude).run([POCTask(id: "a", category: .simple, prompt: "x")])
        #expect(results[0].small.judgement?.error == "the judge's call failed: http_4xx (HTTP 401): invalid x-api-key")
    }

    @Test func aFailedSmallCallFailsItsTaskAndHasNoOutcome() async {
        let small = Self.small { request throws(ProviderError) in
            if request.lastText.hasSuffix(": 2") { throw ProviderError(.timeout, "no answer within 10000 ms") }
            return ProviderResponse(
                text: "Una risposta completa e abbastanza lunga da non sembrare corta.", tokensInput: 10, tokensOutput: 10, model: "q")
        }
        let results = await Self.runner(small: small).run(Self.tasks())
        let failed = results[2]
        #expect(failed.small.text == nil && failed.small.error == "timeout: no answer within 10000 ms")
        #expect(failed.small.judgement == nil && failed.features == nil && !failed.small.passed)
        // A failed call on a self-hosted tier still used its GPU share.
        #expect(failed.small.costUSD == TierSettings.defaults(tier: .tier1).costUSD(inputTokens: 0, outputTokens: 0))
        let report = Self.report(results)
        #expect(report.summary.simplePassed == 9 && report.summary.smallAnswered == 17 && report.summary.unjudged == 0)
        #expect(report.outcomes().map(\.id).contains("s2") == false)
        #expect(report.text().contains("s2: small model failed: timeout: no answer within 10000 ms"))
        let row = report.text().split(separator: "\n").first { $0.hasPrefix("s2 ") }
        #expect(row.map { $0.contains(" error ") && $0.contains(" - ") } == true)
    }

    @Test func humanScoresReplaceTheJudge() async throws {
        let judged = Mutex(0)
        let claude = Self.claude { _ throws(ProviderError) in
            judged.withLock { $0 += 1 }
            return "SCORE: 5\nREASON: x"
        }
        let tasks = Self.tasks(simple: 3, medium: 0)
        let scores = try HumanScores.parse(
            Array(#"{"s0": 4, "s1": {"score": 2, "claude_score": 5, "reason": "wrong  list"}}"#.utf8), source: "scores.json", tasks: tasks)
        let runner = Self.runner(claude: claude, judge: .human(scores))
        #expect(runner.judgeName == "human (scores.json)")
        let results = await runner.run(tasks)
        #expect(judged.withLock { $0 } == 0)
        #expect(results[0].small.judgement == POCJudgement(score: 4, reason: "human judge"))
        #expect(results[0].claude.judgement == nil)
        #expect(results[1].small.judgement == POCJudgement(score: 2, reason: "wrong list"))
        #expect(results[1].claude.judgement == POCJudgement(score: 5, reason: "human judge"))
        #expect(results[2].small.judgement?.error == "not judged: scores.json has no score for this task")
        let summary = Self.report(results).summary
        #expect(summary.simplePassed == 1 && summary.unjudged == 1 && !summary.verdict.isGo)
    }

    @Test func humanScoresFilesAreChecked() {
        let tasks = Self.tasks(simple: 2, medium: 0)
        func message(_ text: String) -> String {
            do {
                _ = try HumanScores.parse(Array(text.utf8), source: "scores.json", tasks: tasks)
                return "no error"
            } catch {
                return error.message
            }
        }
        #expect(message(#"{"s9": 4}"#) == #"scores.json: "s9" is not the id of a task in this run"#)
        #expect(message(#"{"s0": 6}"#) == #"scores.json: task "s0": the score must be a whole number from 1 to 5"#)
        #expect(message(#"{"s0": 3.5}"#).contains("whole number from 1 to 5"))
        #expect(message(#"{"s0": {"claude_score": 4}}"#) == #"scores.json: task "s0": "score" is required"#)
        #expect(message(#"{"s0": {"score": 4, "claude": 4}}"#).contains(#"unknown field "claude""#))
        #expect(message(#"{"s0": {"score": 4, "claude_score": 0}}"#).contains(#""claude_score" must be a whole number from 1 to 5"#))
        #expect(message("[4]").contains("must be a JSON object from task id to score"))
    }

    @Test func theReportsAndOutcomesCarryEveryFigure() async throws {
        let results = await Self.runner().run(Self.tasks(simple: 2, medium: 1))
        let report = Self.report(results)
        let json = try #require(JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        #expect(json["verdict"] as? String == "GO")
        #expect((json["criteria"] as? [[String: Any]])?.map { $0["name"] as? String } == ["simple_tasks", "small_p95_latency", "medium_tasks"])
        let task = try #require((json["tasks"] as? [[String: Any]])?.first)
        #expect(task["prompt"] as? String == "Formatta questa lista in markdown: 0")
        let small = try #require(task["small"] as? [String: Any])
        #expect(small["answer"] as? String == Self.answer)
        #expect(small["score"] as? Int == 5)
        #expect((small["features"] as? [String: Any])?["tokens"] as? Int == 20)
        #expect((task["claude"] as? [String: Any])?["score"] as? Int == 5)
        let summary = try #require(json["summary"] as? [String: Any])
        #expect((summary["simple"] as? [String: Any])?["needed"] as? Int == 2)

        let markdown = report.markdown()
        #expect(markdown.hasPrefix("# POC report: GO\n"))
        #expect(markdown.contains("| simple tasks | must-have | 2/2 scored >= 4 | at least 2/2 scoring >= 4 | PASS |"))
        #expect(markdown.contains("```text\nFormatta questa lista in markdown: 0\n```"))

        let lines = report.outcomesJSONL().split(separator: "\n")
        #expect(lines.count == 3)
        let outcome = try LabelledOutcome.parse(line: lines[0])
        #expect(outcome.id == "s0" && outcome.source == .poc && outcome.tier == 1 && outcome.model == "qwen3-4b")
        #expect(outcome.taskType == "simple" && outcome.score == 5 && outcome.good && outcome.claudeScore == 5 && outcome.claudeGood == true)
        #expect(outcome.confidence == results[0].confidence)
        #expect(outcome.smallCostUSD == results[0].small.costUSD && outcome.claudeCostUSD == results[0].claude.costUSD)
        #expect(outcome.at == 1_767_225_612.5)
    }

    @Test func answersWithTheirOwnCodeBlocksGetALongerFence() {
        #expect(POCReport.fenced("a\n```swift\nlet x = 1\n```") == ["````text", "a\n```swift\nlet x = 1\n```", "````"])
        #expect(POCReport.cell("a|b\nc") == "a\\|b c")
    }
}
