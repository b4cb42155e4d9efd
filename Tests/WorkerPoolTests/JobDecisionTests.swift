import ControlPlane
import Foundation
import JobProtocol
import Providers
import Settings
import Testing

@testable import WorkerPool

/// The pure steps between a fetched job and its commit, without Redis or a provider.
@Suite struct JobDecisionTests {
    static let now = 1_767_225_600.0
    static let settings = CervellaSettings()
    static let flags = LiveFlags(settings: settings)

    static func job(deadlineIn seconds: Double? = 60, maxTokens: Int? = nil, enableFallback: Bool = true) -> Job {
        var job = Job(
            id: "j1", replyTo: "cervella:reply:j1", createdAt: now - 2, deadlineAt: seconds.map { now + $0 },
            messages: [ChatMessage(role: "user", content: "hi")])
        job.params.maxTokens = maxTokens
        job.enableFallback = enableFallback
        return job
    }

    static func context(flags: LiveFlags = flags, cacheKey: String? = "cervella:cache:k") -> JobDecision.Context {
        JobDecision.Context(flags: flags, cacheKey: cacheKey, worker: "w1", poppedAt: now - 1, now: now, timestamp: "2026-01-01T00:00:00Z")
    }

    static func answer(_ text: String, logprobs: [Double]? = nil) -> ProviderResponse {
        ProviderResponse(text: text, tokensInput: 1_000, tokensOutput: 200, tokenLogprobs: logprobs, model: "qwen")
    }

    @Test func aQuarantinedJobRunsAsTheQueueItWasRecoveredFrom() {
        var job = Self.job()
        job.recoveries = [Recovery(worker: "w0", at: Self.now, queue: "tier2")]
        let route = JobDecision.Route(fetchedFrom: .quarantine, job: job)
        #expect(route == JobDecision.Route(fetchedFrom: .tier2, job: job))
        #expect(route.tier == .tier2 && route.smallTier)
        // The fallback queue is Claude's, and a hop there is not a new request.
        let fallback = JobDecision.Route(fetchedFrom: .fallback, job: job)
        #expect(fallback.tier == .claude && !fallback.smallTier && fallback.handled.isEmpty)
        #expect(JobDecision.Route(fetchedFrom: .tier1, job: job).handled == [.handled(tier: .tier1)])
    }

    @Test func aJobPastItsDeadlineIsAnsweredWithoutACall() throws {
        let job = Self.job(deadlineIn: -1.5)
        let route = JobDecision.Route(fetchedFrom: .tier1, job: job)
        let commit = try #require(JobDecision.expired(job, route: route, now: Self.now))
        guard case .reply(_, let result, let cacheKey) = commit.outcome else { Issue.record("not a reply"); return }
        #expect(result.error?.code == "deadline_exceeded")
        #expect(result.error?.message.contains("1500 ms") == true)
        #expect(cacheKey == nil)
        #expect(commit.stats == [.handled(tier: .tier1), .failed(tier: .tier1, code: "deadline_exceeded")])
        #expect(JobDecision.expired(Self.job(deadlineIn: 1), route: route, now: Self.now) == nil)
        #expect(JobDecision.expired(Self.job(deadlineIn: nil), route: route, now: Self.now) == nil)
    }

    @Test func aSwitchedOffSmallTierSendsTheJobToClaudeUncalled() throws {
        let job = Self.job()
        var flags = Self.flags
        flags.tierEnabled[.tier1] = false
        flags.tierEnabled[.tier2] = true
        let commit = try #require(
            JobDecision.bypass(job, route: JobDecision.Route(fetchedFrom: .tier1, job: job), flags: flags, settings: Self.settings))
        guard case .fallback(let next) = commit.outcome else { Issue.record("not a fallback"); return }
        #expect(next.fallbackFrom?.reason == "tier1_disabled")
        #expect(next.fallbackFrom?.costUSD == 0)
        // Tier 2 is still on; Claude's own queue is never bypassed.
        #expect(JobDecision.bypass(job, route: JobDecision.Route(fetchedFrom: .tier2, job: job), flags: flags, settings: Self.settings) == nil)
        flags.tierEnabled[.tier3] = false
        #expect(JobDecision.bypass(job, route: JobDecision.Route(fetchedFrom: .tier3, job: job), flags: flags, settings: Self.settings) == nil)
    }

    @Test func theCallBudgetIsTheTierTimeoutCutToTheDeadline() {
        let settings = Self.settings
        let small = JobDecision.Route(fetchedFrom: .tier1, job: Self.job())
        let claude = JobDecision.Route(fetchedFrom: .fallback, job: Self.job())
        #expect(JobDecision.callBudgetMs(Self.job(deadlineIn: 600), route: small, settings: settings, now: Self.now) == settings.fallback.timeoutMs)
        #expect(
            JobDecision.callBudgetMs(Self.job(deadlineIn: 600), route: claude, settings: settings, now: Self.now) == settings.tier(.tier3).timeoutMs)
        #expect(JobDecision.callBudgetMs(Self.job(deadlineIn: 0.25), route: claude, settings: settings, now: Self.now) == 250)
        // Never zero or negative, whatever the clock says.
        #expect(JobDecision.callBudgetMs(Self.job(deadlineIn: -5), route: claude, settings: settings, now: Self.now) == 1)
        let request = JobDecision.request(for: Self.job(maxTokens: 77), route: small, settings: settings, now: Self.now)
        #expect(request.maxTokens == 77 && request.timeout == .milliseconds(settings.fallback.timeoutMs))
        #expect(
            JobDecision.request(for: Self.job(), route: small, settings: settings, now: Self.now).maxTokens == settings.tier(.tier1).defaultMaxTokens)
    }

    @Test func aConfidentAnswerIsRepliedAndCachedWithItsCosts() throws {
        let job = Self.job()
        let route = JobDecision.Route(fetchedFrom: .tier1, job: job)
        let call = JobDecision.Call(
            model: "qwen", response: Self.answer("Paris is the capital of France.", logprobs: [-0.01, -0.02]), latencyMs: 120)
        let commit = JobDecision.conclude(job, route: route, call: call, settings: Self.settings, context: Self.context())
        guard case .reply(_, let result, let cacheKey) = commit.outcome else { Issue.record("not a reply"); return }
        #expect(result.ok && result.response == "Paris is the capital of France.")
        #expect(cacheKey == "cervella:cache:k")
        let metadata = try #require(result.metadata)
        #expect(metadata.tier == 1 && metadata.modelUsed == "qwen" && !metadata.fallback)
        #expect(metadata.latencyMs == 2_000 && metadata.queueMs == 1_000)
        #expect(metadata.costUSD == (Self.settings.tier(.tier1).costUSD(inputTokens: 1_000, outputTokens: 200) * 1e9).rounded() / 1e9)
        #expect(commit.stats.first == .handled(tier: .tier1))
    }

    @Test func aLowConfidenceAnswerFallsBackCarryingWhatItCost() {
        let job = Self.job()
        let route = JobDecision.Route(fetchedFrom: .tier1, job: job)
        let call = JobDecision.Call(model: "qwen", response: Self.answer("Maybe.", logprobs: [-3, -4]), latencyMs: 80)
        let commit = JobDecision.conclude(job, route: route, call: call, settings: Self.settings, context: Self.context())
        guard case .fallback(let next) = commit.outcome else { Issue.record("not a fallback"); return }
        #expect(next.fallbackFrom?.reason.hasPrefix("low_confidence_") == true)
        #expect(next.fallbackFrom?.model == "qwen" && next.fallbackFrom?.latencyMs == 80)
        #expect((next.fallbackFrom?.costUSD ?? 0) > 0)

        // The job said no fallback: the answer stands, says why it would have gone, and is not cached.
        let kept = JobDecision.conclude(Self.job(enableFallback: false), route: route, call: call, settings: Self.settings, context: Self.context())
        guard case .reply(_, let result, let cacheKey) = kept.outcome else { Issue.record("not a reply"); return }
        #expect(result.metadata?.fallbackSuppressed?.hasPrefix("low_confidence_") == true)
        #expect(cacheKey == nil)
    }

    /// A calibration entry for the job's task type replaces the tier's method and threshold:
    /// its signal is read, its map gives the confidence reported, its raw threshold decides.
    @Test func aCalibratedTaskTypeIsGatedByItsOwnSignalMapAndThreshold() throws {
        var job = Self.job()
        job.route = Route(tier: 1, model: "qwen", reason: "simple_task_pattern_matched")
        let route = JobDecision.Route(fetchedFrom: .tier1, job: job)
        // A fluent answer with one shaky span: mean 0.80 (accepted by the default 0.70), tail 0.14.
        let logprobs = Array(repeating: -0.03, count: 18) + [-2.0, -2.0]
        let answer = Self.answer("Il rapporto elenca i dati trimestrali di ogni regione in dettaglio.", logprobs: logprobs)
        let call = JobDecision.Call(model: "qwen", response: answer, latencyMs: 80)
        guard case .reply = JobDecision.conclude(job, route: route, call: call, settings: Self.settings, context: Self.context()).outcome else {
            Issue.record("the uncalibrated gate accepts it"); return
        }
        var flags = Self.flags
        flags.calibration = CalibrationTable(entries: [
            "1/simple_task_pattern_matched": .init(
                signal: .tail, threshold: 0.3, map: [.init(raw: 0.1, calibrated: 0.2), .init(raw: 0.5, calibrated: 0.9)])
        ])
        let commit = JobDecision.conclude(job, route: route, call: call, settings: Self.settings, context: Self.context(flags: flags))
        guard case .fallback(let next) = commit.outcome else { Issue.record("the calibrated gate sends it to Claude"); return }
        // tail = exp(-2) = 0.135, mapped between (0.1, 0.2) and (0.5, 0.9): 0.262.
        #expect(next.fallbackFrom?.reason == "low_confidence_0.26")
        #expect(next.fallbackFrom?.confidence == 0.262)

        // Another task type has no entry of its own and no * entry: the tier's gate applies.
        job.route?.reason = "default_tier"
        guard case .reply = JobDecision.conclude(job, route: route, call: call, settings: Self.settings, context: Self.context(flags: flags)).outcome
        else { Issue.record("default_tier keeps the tier's gate"); return }
        // A tag on the job names its task type and wins over the routing reason.
        job.metadata["task_type"] = .string("simple_task_pattern_matched")
        guard
            case .fallback = JobDecision.conclude(job, route: route, call: call, settings: Self.settings, context: Self.context(flags: flags)).outcome
        else { Issue.record("the tag selects the entry"); return }

        // Above the raw threshold: accepted, with the calibrated confidence in the result.
        flags.calibration.entries["1/simple_task_pattern_matched"]?.threshold = 0.1
        let accepted = JobDecision.conclude(job, route: route, call: call, settings: Self.settings, context: Self.context(flags: flags))
        guard case .reply(_, let result, let cacheKey) = accepted.outcome else { Issue.record("accepted"); return }
        #expect(result.metadata?.confidence == 0.262 && cacheKey != nil)
        // Without logprobs the entry's signal cannot be read: the tier's own gate decides.
        let plain = JobDecision.Call(
            model: "qwen", response: Self.answer("Il rapporto elenca i dati trimestrali di ogni regione in dettaglio."), latencyMs: 80)
        let unread = JobDecision.conclude(job, route: route, call: plain, settings: Self.settings, context: Self.context(flags: flags))
        guard case .reply(_, let plainResult, _) = unread.outcome else { Issue.record("accepted by the heuristic"); return }
        #expect(plainResult.metadata?.confidence == 1)
    }

    @Test func aFailedClaudeCallTellsTheClientWhatFailedButNotWhere() {
        let job = Self.job()
        let route = JobDecision.Route(fetchedFrom: .fallback, job: job)
        let error = ProviderError(.http5xx, "HTTP 503 from https://internal-llm.example:8443/v1/messages: overloaded")
        let call = JobDecision.Call(model: "claude", error: error, latencyMs: 30)
        let commit = JobDecision.conclude(job, route: route, call: call, settings: Self.settings, context: Self.context())
        guard case .reply(_, let result, let cacheKey) = commit.outcome else { Issue.record("not a reply"); return }
        #expect(!result.ok && result.error?.code == "error_http_5xx")
        #expect(result.error?.message.hasPrefix("claude failed: ") == true)
        #expect(result.error?.message.contains("internal-llm") == false)
        #expect(cacheKey == nil)
        #expect(commit.stats == [.failed(tier: .tier3, code: "error_http_5xx")])
    }

    @Test func aFallbackAnswerReportsTheOriginAndAddsTheDiscardedCost() throws {
        var job = Self.job()
        job.fallbackFrom = FallbackOrigin(tier: 1, model: "qwen", reason: "low_confidence_0.4", confidence: 0.4, latencyMs: 90, costUSD: 0.5)
        let route = JobDecision.Route(fetchedFrom: .fallback, job: job)
        let call = JobDecision.Call(model: "claude", response: Self.answer("A careful answer."), latencyMs: 400)
        let commit = JobDecision.conclude(job, route: route, call: call, settings: Self.settings, context: Self.context())
        guard case .reply(_, let result, _) = commit.outcome else { Issue.record("not a reply"); return }
        let metadata = try #require(result.metadata)
        #expect(metadata.fallback && metadata.fallbackReason == "low_confidence_0.4" && metadata.originalModel == "qwen")
        #expect(metadata.costUSD > 0.5)
        // Not counted as a new request: the hop's stats are its answer and its spend only.
        #expect(commit.stats.count == 2)
        guard case .answered(.tier3, _, _, let cost, _) = commit.stats.first else { Issue.record("no answer counted"); return }
        #expect(
            commit.stats.last
                == .spent(
                    CallSpend(
                        tier: .tier3, model: "claude", outcome: .answered, fallbackHop: true, inputTokens: metadata.tokensInput,
                        outputTokens: metadata.tokensOutput, costUSD: cost)))
    }

    @Test func aDiscardedSmallAttemptIsSpentByItsModelWithoutTokens() {
        let route = JobDecision.Route(fetchedFrom: .tier1, job: Self.job())
        let call = JobDecision.Call(model: "qwen-test", response: nil, error: ProviderError(.timeout, "slow"), latencyMs: 10_000)
        let commit = JobDecision.conclude(Self.job(), route: route, call: call, settings: Self.settings, context: Self.context())
        guard case .fallback = commit.outcome, case .fellBack(.tier1, _, _, let cost) = commit.stats.dropLast().last else {
            Issue.record("not a fallback: \(commit.stats)")
            return
        }
        #expect(cost > 0)
        #expect(
            commit.stats.last
                == .spent(
                    CallSpend(
                        tier: .tier1, model: "qwen-test", outcome: .discarded, fallbackHop: false, inputTokens: 0, outputTokens: 0, costUSD: cost)
                ))
    }

    static func toolJob() -> Job {
        var job = Self.job()
        job.params.tools = [
            .object(["type": .string("function"), "function": .object(["name": .string("weather"), "parameters": .object([:])])])
        ]
        return job
    }

    static func toolAnswer(name: String, arguments: String, logprobs: [Double]? = nil) -> ProviderResponse {
        ProviderResponse(
            text: "", tokensInput: 100, tokensOutput: 12, tokenLogprobs: logprobs, finishReason: "tool_calls", model: "qwen",
            toolCalls: [ToolCall(id: "call_1", name: name, arguments: arguments)])
    }

    /// An agent's step: a valid call is the answer (its text is empty), cached, with its calls
    /// and finish reason in the result; the heuristic, which reads prose, does not score it.
    @Test func aValidToolCallIsAnsweredAndCached() throws {
        let job = Self.toolJob()
        let call = JobDecision.Call(model: "qwen", response: Self.toolAnswer(name: "weather", arguments: #"{"city":"Paris"}"#), latencyMs: 80)
        let commit = JobDecision.conclude(
            job, route: JobDecision.Route(fetchedFrom: .tier1, job: job), call: call, settings: Self.settings, context: Self.context())
        guard case .reply(_, let result, let cacheKey) = commit.outcome else { Issue.record("not a reply: \(commit.outcome)"); return }
        #expect(result.ok)
        #expect(result.toolCalls == [ToolCall(id: "call_1", name: "weather", arguments: #"{"city":"Paris"}"#)])
        #expect(result.finishReason == "tool_calls")
        #expect(result.response == "")
        #expect(result.metadata?.confidence == nil)
        #expect(cacheKey == "cervella:cache:k")
    }

    /// With logprobs, an unsure call falls back like an unsure answer.
    @Test func anUnsureToolCallFallsBackOnItsLogprobs() throws {
        let job = Self.toolJob()
        let call = JobDecision.Call(
            model: "qwen", response: Self.toolAnswer(name: "weather", arguments: "{}", logprobs: [-2, -2, -2]), latencyMs: 80)
        let commit = JobDecision.conclude(
            job, route: JobDecision.Route(fetchedFrom: .tier1, job: job), call: call, settings: Self.settings, context: Self.context())
        guard case .fallback(let next) = commit.outcome else { Issue.record("not a fallback"); return }
        #expect(next.fallbackFrom?.reason == "low_confidence_0.14")
    }

    @Test(arguments: [("search", "{}", "unknown_tool"), ("weather", "{city: Paris}", "invalid_tool_call")])
    func aBadToolCallGoesToClaudeWithItsReason(name: String, arguments: String, reason: String) throws {
        let job = Self.toolJob()
        let call = JobDecision.Call(model: "qwen", response: Self.toolAnswer(name: name, arguments: arguments), latencyMs: 80)
        let commit = JobDecision.conclude(
            job, route: JobDecision.Route(fetchedFrom: .tier1, job: job), call: call, settings: Self.settings, context: Self.context())
        guard case .fallback(let next) = commit.outcome else { Issue.record("not a fallback"); return }
        #expect(next.fallbackFrom?.reason == reason)
        // With the fallback off the call is kept, reported, and not cached.
        let kept = JobDecision.conclude(
            Self.toolJob(), route: JobDecision.Route(fetchedFrom: .tier1, job: job), call: call, settings: Self.settings,
            context: Self.context(
                flags: {
                    var f = Self.flags; f.fallbackEnabled = false; return f
                }()))
        guard case .reply(_, let result, let cacheKey) = kept.outcome else { Issue.record("not a reply"); return }
        #expect(result.metadata?.fallbackSuppressed == reason)
        #expect(cacheKey == nil)
    }

    /// Claude's answer is checked too, and a problem reported: there is no tier above it.
    @Test func claudesBadToolCallIsKeptAndReported() throws {
        let job = Self.toolJob()
        let call = JobDecision.Call(model: "claude", response: Self.toolAnswer(name: "search", arguments: "{}"), latencyMs: 80)
        let commit = JobDecision.conclude(
            job, route: JobDecision.Route(fetchedFrom: .fallback, job: job), call: call, settings: Self.settings, context: Self.context())
        guard case .reply(_, let result, let cacheKey) = commit.outcome else { Issue.record("not a reply"); return }
        #expect(result.ok)
        #expect(result.metadata?.structureProblem == "unknown_tool")
        #expect(cacheKey == nil)
        #expect(result.toolCalls?.first?.name == "search")
    }
}
