import CurlHTTP
import Foundation
import JobProtocol
import Providers
import Scoring
import Settings

/// Runs a POC (report 5.2): each task on the small model and on Claude side by side, then each
/// answer scored 1–5 by the judge.
///
/// The calls go to the providers directly, not through the pool: no cache, no queue, no
/// confidence gate, no retries on the answers. The POC measures the models, and anything in
/// between (a cache hit, a fallback, a retry after a 503) would hide what they did. The
/// judge's calls alone are retried on transient failures, since they measure nothing.
public struct POCRunner: Sendable {
    /// Who scores the answers.
    public enum Judge: Sendable {
        /// Claude (the tier-3 provider) with this system prompt.
        case model(prompt: String)
        /// A person's scores from a file; no judge call is made.
        case human(HumanScores)
    }

    /// How far a run has come: reported after each task, in the order they finish.
    public struct Progress: Sendable {
        public var done: Int
        public var total: Int
        public var result: POCResult
    }

    public var small: any ChatProvider
    public var smallSettings: TierSettings
    /// The small model's call budget: the pool's fallback timeout, as a worker gives it.
    public var smallTimeoutMs: Int
    public var claude: any ChatProvider
    public var claudeSettings: TierSettings
    public var judge: Judge
    /// Tasks in flight at once.
    public var concurrency: Int
    /// The judge's reply is a score and a sentence.
    public static let judgeMaxTokens = 300
    public static let judgeAttempts = 3
    public static let concurrencyRange = 1...32

    public init(
        small: any ChatProvider, smallSettings: TierSettings, smallTimeoutMs: Int, claude: any ChatProvider, claudeSettings: TierSettings,
        judge: Judge, concurrency: Int
    ) {
        self.small = small
        self.smallSettings = smallSettings
        self.smallTimeoutMs = smallTimeoutMs
        self.claude = claude
        self.claudeSettings = claudeSettings
        self.judge = judge
        self.concurrency = min(max(concurrency, Self.concurrencyRange.lowerBound), Self.concurrencyRange.upperBound)
    }

    /// Tier 1 against tier 3 of `settings`, built as a worker builds its providers.
    public init(settings: CervellaSettings, http: HTTPClient, judge: Judge, concurrency: Int) {
        let small = settings.tier(.tier1)
        let claude = settings.tier(.tier3)
        self.init(
            small: ProviderFactory.make(small, http: http), smallSettings: small, smallTimeoutMs: settings.fallback.timeoutMs,
            claude: ProviderFactory.make(claude, http: http), claudeSettings: claude, judge: judge, concurrency: concurrency)
    }

    /// The judge's name for the report.
    public var judgeName: String {
        switch judge {
        case .model: return "\(claudeSettings.model) (tier 3)"
        case .human(let scores): return "human (\(scores.source))"
        }
    }

    /// Every task's result, in the tasks' order; `progress` hears of each as it finishes.
    public func run(_ tasks: [POCTask], progress: @escaping @Sendable (Progress) -> Void = { _ in }) async -> [POCResult] {
        var results = [POCResult?](repeating: nil, count: tasks.count)
        await withTaskGroup(of: (Int, POCResult).self) { group in
            var next = 0
            func startNext() {
                guard next < tasks.count else { return }
                let index = next
                next += 1
                group.addTask { (index, await self.run(tasks[index])) }
            }
            for _ in 0..<concurrency { startNext() }
            var done = 0
            while let (index, result) = await group.next() {
                results[index] = result
                done += 1
                progress(Progress(done: done, total: tasks.count, result: result))
                startNext()
            }
        }
        return results.compactMap { $0 }
    }

    /// One task: both answers at once, then both judgements at once.
    public func run(_ task: POCTask) async -> POCResult {
        async let smallCall = answer(task, provider: small, settings: smallSettings, timeoutMs: smallTimeoutMs)
        async let claudeCall = answer(task, provider: claude, settings: claudeSettings, timeoutMs: claudeSettings.timeoutMs)
        var (smallAnswer, claudeAnswer) = await (smallCall, claudeCall)
        async let smallJudgement = judgement(task, smallAnswer, isClaude: false)
        async let claudeJudgement = judgement(task, claudeAnswer, isClaude: true)
        (smallAnswer.judgement, claudeAnswer.judgement) = await (smallJudgement, claudeJudgement)
        var result = POCResult(task: task, small: smallAnswer, claude: claudeAnswer)
        if let text = smallAnswer.text {
            result.features = ConfidenceFeatures(answer: text, tokenLogprobs: smallAnswer.tokenLogprobs, expectedFormat: task.expectedFormat)
            result.confidence = ConfidenceScorer(method: smallSettings.confidenceMethod, aggregate: smallSettings.logprobAggregate).score(
                answer: text, tokenLogprobs: smallAnswer.tokenLogprobs, expectedFormat: task.expectedFormat)
        }
        return result
    }

    private func answer(_ task: POCTask, provider: any ChatProvider, settings: TierSettings, timeoutMs: Int) async -> POCAnswer {
        let request = ProviderRequest(
            messages: [ChatMessage(role: "user", content: task.prompt)], maxTokens: settings.defaultMaxTokens,
            wantLogprobs: settings.kind == .openai, timeout: .milliseconds(timeoutMs))
        let started = ContinuousClock.now
        do {
            let response = try await provider.complete(request)
            var answer = POCAnswer(
                model: settings.model, text: response.text, error: nil, latencyMs: Self.milliseconds(since: started),
                costUSD: settings.costUSD(
                    inputTokens: response.tokensInput, outputTokens: response.tokensOutput, cachedInputTokens: response.tokensCachedInput))
            answer.tokensInput = response.tokensInput
            answer.tokensOutput = response.tokensOutput
            answer.tokensCachedInput = response.tokensCachedInput
            answer.tokenLogprobs = response.tokenLogprobs
            return answer
        } catch {
            return POCAnswer(
                model: settings.model, text: nil, error: error.logDescription, latencyMs: Self.milliseconds(since: started),
                costUSD: settings.costUSD(inputTokens: 0, outputTokens: 0))
        }
    }

    private func judgement(_ task: POCTask, _ answer: POCAnswer, isClaude: Bool) async -> POCJudgement? {
        guard let text = answer.text else { return nil }
        switch judge {
        case .human(let scores):
            guard let entry = scores.entries[task.id] else {
                return isClaude ? nil : POCJudgement(error: "not judged: \(scores.source) has no score for this task")
            }
            if isClaude { return entry.claudeScore.map { POCJudgement(score: $0, reason: "human judge") } }
            return POCJudgement(score: entry.score, reason: entry.reason ?? "human judge")
        case .model(let prompt):
            return await modelJudgement(task, text, prompt: prompt)
        }
    }

    private func modelJudgement(_ task: POCTask, _ text: String, prompt: String) async -> POCJudgement {
        let request = ProviderRequest(
            messages: [
                ChatMessage(role: "system", content: prompt), ChatMessage(role: "user", content: POCJudgePrompt.message(task: task, answer: text)),
            ],
            maxTokens: Self.judgeMaxTokens, temperature: 0, timeout: .milliseconds(claudeSettings.timeoutMs))
        var cost = 0.0
        var attempt = 1
        while true {
            do {
                let response = try await claude.complete(request)
                cost += claudeSettings.costUSD(
                    inputTokens: response.tokensInput, outputTokens: response.tokensOutput, cachedInputTokens: response.tokensCachedInput)
                do {
                    let reply = try JudgeReply.parse(response.text)
                    return POCJudgement(score: reply.score, reason: reply.reason, costUSD: cost)
                } catch {
                    return POCJudgement(error: "the judge's reply could not be read: \(error)", costUSD: cost)
                }
            } catch {
                let transient = [.rateLimited, .http5xx, .connection].contains(error.code)
                guard transient, attempt < Self.judgeAttempts else {
                    return POCJudgement(error: "the judge's call failed: \(error.logDescription)", costUSD: cost)
                }
                // 0.5 s, then 1 s; never sooner than a 429's Retry-After, never over 10 s.
                let wait = max(Duration.milliseconds(500 << (attempt - 1)), error.retryAfter ?? .zero)
                try? await Task.sleep(for: min(wait, .seconds(10)))
                attempt += 1
            }
        }
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Int {
        let elapsed = start.duration(to: .now).components
        return Int(elapsed.seconds) * 1000 + Int(elapsed.attoseconds / 1_000_000_000_000_000)
    }
}
