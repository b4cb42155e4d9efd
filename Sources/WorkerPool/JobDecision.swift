import ControlPlane
import Foundation
import JobProtocol
import Providers
import Scoring
import Settings

/// The pure steps of a worker's decision about one job: from the job, the settings, the live
/// switches and what a provider call came to, the commit. No Redis, no provider, no clock of
/// its own (the caller passes `now`), so the whole path is testable without either; the worker
/// (`Worker.decide`) only does the I/O between these steps.
enum JobDecision {
    /// Where a job is served: the queue it runs as (a quarantined job runs as the queue it was
    /// recovered from) and that queue's tier.
    struct Route: Sendable, Equatable {
        var queue: QueueName
        var tier: Tier

        init(fetchedFrom queue: QueueName, job: Job) {
            self.queue = queue == .quarantine ? job.originQueue : queue
            self.tier = self.queue.servingTier
        }

        /// A tier-1/2 job: one that may fall back to Claude.
        var smallTier: Bool { tier.isSmall && !queue.isFallback }

        /// Counted once, where the job was routed; a fallback hop is not a new request.
        var handled: [StatsEvent] { queue.isFallback ? [] : [.handled(tier: tier)] }
    }

    /// The reply to a job whose deadline passed before a worker took it; nil while it has time.
    static func expired(_ job: Job, route: Route, now: Double) -> JobCommit? {
        guard let deadline = job.deadlineAt, now > deadline else { return nil }
        let result = JobResult.failure(
            id: job.id, code: "deadline_exceeded",
            message: "the job's deadline passed \(Int.milliseconds(fromSeconds: now - deadline)) ms before a worker took it; no provider was called"
        )
        return .reply(job, result, stats: route.handled + [.failed(tier: route.tier, code: "deadline_exceeded")])
    }

    /// A small tier the operator switched off (rollback), or one outside its window
    /// (`TierWindow`): no small-model call, Claude answers.
    static func bypass(_ job: Job, route: Route, flags: LiveFlags, settings: CervellaSettings, now: Date = Date()) -> JobCommit? {
        guard route.smallTier else { return nil }
        let reason: String
        if !flags.isEnabled(route.tier) {
            reason = "tier\(route.tier)_disabled"
        } else if !flags.isInWindow(route.tier, at: now) {
            reason = "tier\(route.tier)_outside_window"
        } else {
            return nil
        }
        var next = job
        next.fallbackFrom = FallbackOrigin(
            tier: route.tier.number, model: settings.tier(route.tier).model, reason: reason, confidence: nil, latencyMs: 0, costUSD: 0)
        return JobCommit(
            outcome: .fallback(job: next), stats: route.handled + [.fellBack(tier: route.tier, reason: reason, confidence: nil, costUSD: 0)])
    }

    /// The provider call for a job: its parameters, the tier's defaults, and a timeout that
    /// never outlives the job's deadline (the fallback budget on a small tier).
    static func request(for job: Job, route: Route, settings: CervellaSettings, now: Double) -> ProviderRequest {
        let tierSettings = settings.tier(route.tier)
        return ProviderRequest(
            messages: job.messages, maxTokens: job.params.maxTokens ?? tierSettings.defaultMaxTokens,
            temperature: job.params.temperature, topP: job.params.topP, stop: job.params.stop,
            wantLogprobs: tierSettings.kind == .openai && [.auto, .logprobs].contains(tierSettings.confidenceMethod),
            timeout: .milliseconds(callBudgetMs(job, route: route, settings: settings, now: now)), tools: job.params.tools,
            toolChoice: job.params.toolChoice, responseFormat: job.params.responseFormat, parallelToolCalls: job.params.parallelToolCalls,
            seed: job.params.seed
        )
    }

    /// Milliseconds a job's calls may take: the tier's timeout (the fallback budget on a
    /// small tier), cut to what is left before the job's deadline, at least 1.
    static func callBudgetMs(_ job: Job, route: Route, settings: CervellaSettings, now: Double) -> Int {
        let timeoutMs = route.smallTier ? settings.fallback.timeoutMs : settings.tier(route.tier).timeoutMs
        let remainingMs = job.deadlineAt.map { Int.milliseconds(fromSeconds: $0 - now) } ?? timeoutMs
        return max(1, min(timeoutMs, remainingMs))
    }

    /// What the provider calls for one job came to.
    struct Call: Sendable {
        /// The model that served the call (the provider's configured name).
        var model: String
        var response: ProviderResponse?
        var error: ProviderError?
        var latencyMs: Int
        /// The model's rating of its own answer (`self_eval`), when asked.
        var selfEvaluation: Double?
        /// What the rating call cost, on top of the answer's.
        var selfEvaluationCostUSD: Double = 0
        /// How a streamed job's answer went out; nil for a job that is not streamed.
        var streamMode: TierSettings.StreamMode?
        /// Some of the answer reached the client (a `live` stream): it can no longer fall back.
        var released = false
        /// The running confidence at which a `verified` stream was stopped to escalate early.
        var earlyEscalation: Double?
        /// The job's producer cancelled it during the call.
        var cancelled = false
    }

    /// What the job needs besides the call: where it was and where its answer may be cached.
    struct Context: Sendable {
        var flags: LiveFlags
        var cacheKey: String?
        var worker: String
        var poppedAt: Double
        var now: Double
        var timestamp: String
        /// The escalation budget refused this job's fallback (`EscalationBudget`): the answer is
        /// returned as it is, `fallback_suppressed: "budget"`, or the error is the result.
        var budgetSuppressed = false
    }

    /// The commit that ends a job after its provider call: the answer (cached when accepted),
    /// the Claude fallback, or the error. Pure: the verdict table (`Verdict`), the confidence
    /// score, costs and the result's metadata. `conclude` (JobDecision+Spend.swift) adds the
    /// call's spend by model to the commit's statistics.
    static func concludeCall(_ job: Job, route: Route, call: Call, settings: CervellaSettings, context: Context) -> JobCommit {
        let tier = route.tier
        let tierSettings = settings.tier(tier)
        let response = call.response
        // A failed call still took GPU time on a self-hosted tier.
        let cost =
            (response.map {
                tierSettings.costUSD(inputTokens: $0.tokensInput, outputTokens: $0.tokensOutput, cachedInputTokens: $0.tokensCachedInput)
            }
                ?? tierSettings.costUSD(inputTokens: 0, outputTokens: 0)) + call.selfEvaluationCostUSD
        if call.cancelled {
            let tokens = response?.tokensOutput ?? 0
            let result = JobResult.failure(
                id: job.id, code: "cancelled",
                message: "the job was cancelled by its producer while \(call.model) answered (\(tokens) tokens generated)")
            return .reply(job, result, stats: route.handled + [.cancelled(tier: tier, costUSD: cost)])
        }
        if call.earlyEscalation != nil, route.smallTier, context.budgetSuppressed {
            // The stream was stopped early, so there is no whole answer to return instead.
            let result = JobResult.failure(
                id: job.id, code: "low_confidence_early",
                message: "\(call.model)'s answer was stopped early for low confidence and the escalation budget holds back the Claude fallback")
            return .reply(
                job, result, stats: route.handled + [.failed(tier: tier, code: "low_confidence_early"), .suppressed(tier: tier, reason: "budget")])
        }
        if let early = call.earlyEscalation, route.smallTier {
            var next = job
            let reason = "low_confidence_early"
            let confidence = (early * 1000).rounded() / 1000
            next.fallbackFrom = FallbackOrigin(
                tier: tier.number, model: call.model, reason: reason, confidence: confidence, latencyMs: call.latencyMs, costUSD: cost)
            return JobCommit(
                outcome: .fallback(job: next), stats: route.handled + [.fellBack(tier: tier, reason: reason, confidence: confidence, costUSD: cost)])
        }
        let hasToolCalls = !(response?.toolCalls?.isEmpty ?? true)
        let gate = Gate(job: job, route: route, call: call, tierSettings: tierSettings, calibration: context.flags.calibration)
        let confidence = gate.confidence
        let structureProblem = response.flatMap { StructuredAnswer.problem(text: $0.text, toolCalls: $0.toolCalls, params: job.params) }

        let verdict = Verdict.decide(
            Verdict.Inputs(
                smallTier: route.smallTier, answer: response?.text, hasToolCalls: hasToolCalls, structureProblem: structureProblem,
                confidence: confidence, lowConfidence: gate.low, latencyMs: call.latencyMs, errorReason: call.error?.fallbackReason,
                policy: FallbackPolicy(confidenceThreshold: tierSettings.confidenceThreshold, latencyLimitMs: settings.fallback.timeoutMs),
                fallbackEnabled: context.flags.fallbackEnabled && !context.budgetSuppressed,
                jobAllowsFallback: job.enableFallback && !call.released
            ))
        var suppressed: String?
        // A fallback the budget held back says so, whatever the trigger was.
        let budgetHeld = context.budgetSuppressed && context.flags.fallbackEnabled && job.enableFallback && !call.released
        var budgetStats: [StatsEvent] = []
        if budgetHeld, verdict != .answer(suppressed: nil) { budgetStats = [.suppressed(tier: tier, reason: "budget")] }
        switch verdict {
        case .fallBack(let reason):
            var next = job
            next.fallbackFrom = FallbackOrigin(
                tier: tier.number, model: call.model, reason: reason, confidence: confidence, latencyMs: call.latencyMs, costUSD: cost)
            return JobCommit(
                outcome: .fallback(job: next), stats: route.handled + [.fellBack(tier: tier, reason: reason, confidence: confidence, costUSD: cost)])
        case .answer(let kept):
            suppressed = kept.map { budgetHeld ? "budget" : $0 }
        case .fail:
            break
        }

        var settle: BudgetSettlement?
        if route.queue.isFallback, let origin = job.fallbackFrom, EscalationBudget.counts(reason: origin.reason) {
            settle = BudgetSettlement(jobID: job.id, costUSD: cost)
        }
        guard let response else {
            let error = call.error ?? ProviderError(.badResponse, "no response")
            // The client learns what failed, not where or what the provider said: its address
            // and its error text (which can quote the request) go to the worker's log only.
            let held = budgetStats.isEmpty ? "" : "; the escalation budget holds back the Claude fallback"
            let result = JobResult.failure(id: job.id, code: error.fallbackReason, message: "\(call.model) failed: \(error.clientMessage)\(held)")
            var commit = JobCommit.reply(job, result, stats: route.handled + [.failed(tier: tier, code: error.fallbackReason)] + budgetStats)
            commit.budgetSettlement = settle
            return commit
        }

        let totalCost = cost + (job.fallbackFrom?.costUSD ?? 0)
        let metadata = ResultMetadata(
            modelUsed: call.model, tier: tier.number, latencyMs: Int.milliseconds(fromSeconds: context.now - job.createdAt),
            queueMs: Int.milliseconds(fromSeconds: context.poppedAt - job.createdAt), confidence: confidence,
            costUSD: (totalCost * 1e9).rounded() / 1e9,
            tokensInput: response.tokensInput, tokensOutput: response.tokensOutput,
            fallback: job.fallbackFrom != nil, fallbackReason: job.fallbackFrom?.reason,
            originalModel: job.fallbackFrom?.model, originalConfidence: job.fallbackFrom?.confidence,
            tierDecisionReason: job.route?.reason ?? "queue_\(route.queue.rawValue)", cacheHit: false,
            worker: context.worker, timestamp: context.timestamp,
            reasoningChars: response.reasoning.map(\.count), fallbackSuppressed: suppressed,
            structureProblem: route.smallTier ? nil : structureProblem,
            confidenceGate: route.smallTier && call.released ? "off" : nil
        )
        // An answer that does not hold the asked structure is never cached, whoever wrote it.
        let cacheable = Verdict.isCacheable(verdict, answer: response.text, hasToolCalls: hasToolCalls) && structureProblem == nil
        let claudeEquivalent = settings.tier(.claude).costUSD(inputTokens: response.tokensInput, outputTokens: response.tokensOutput)
        let answered = StatsEvent.answered(
            tier: tier, latencyMs: metadata.latencyMs, confidence: confidence, costUSD: cost, claudeEquivalentUSD: claudeEquivalent)
        var commit = JobCommit.reply(
            job,
            .success(
                id: job.id, response: response.text, metadata: metadata, toolCalls: hasToolCalls ? response.toolCalls : nil,
                finishReason: response.finishReason),
            cacheKey: cacheable ? context.cacheKey : nil,
            stats: route.handled + [answered] + budgetStats)
        commit.budgetSettlement = settle
        if route.smallTier, !hasToolCalls, suppressed == nil, structureProblem == nil {
            commit.shadow = shadowTask(
                job, response: response, tier: tier, model: call.model, gate: gate, cost: cost, settings: settings, context: context)
        }
        if let owner = job.owner {
            // The small model's features only when its answer is the one the user got.
            let features =
                route.smallTier && !hasToolCalls
                ? gate.features
                    ?? ConfidenceFeatures(answer: response.text, tokenLogprobs: response.tokenLogprobs, expectedFormat: job.params.expectedFormat)
                : nil
            commit.gate = GateRecord(
                owner: owner, tier: tier.number, model: call.model, taskType: gate.taskType, confidence: confidence, features: features,
                costUSD: cost)
        }
        return commit
    }

    /// A small-tier answer's confidence and the gate's verdict on it.
    ///
    /// By default the tier's `confidence_method` scores the answer and `confidence_threshold`
    /// judges it. When the calibration table (`cervella calibrate`, live in `cervella:config`)
    /// has an entry for the job's tier and task type, and the method is one calibration serves
    /// (`auto`, `logprobs`, `heuristic`), the entry's signal is read, its map makes it the
    /// probability that the answer is good (the confidence reported), and its threshold on the
    /// raw signal decides. An answer the entry's signal cannot read (no logprobs came back), or
    /// one that is a set of tool calls, keeps the tier's own gate.
    struct Gate: Sendable, Equatable {
        var confidence: Double?
        /// The calibrated gate's verdict; nil when the tier's threshold decides.
        var low: Bool?
        var taskType: String
        var signal: ConfidenceSignal?
        var features: ConfidenceFeatures?

        init(job: Job, route: Route, call: Call, tierSettings: TierSettings, calibration: CalibrationTable) {
            taskType = JobDecision.taskType(of: job)
            guard let response = call.response else { return }
            let hasToolCalls = !(response.toolCalls?.isEmpty ?? true)
            let method = tierSettings.confidenceMethod
            if route.smallTier, !hasToolCalls, [.auto, .logprobs, .heuristic].contains(method),
                let entry = calibration.entry(tier: route.tier.number, taskType: taskType)
            {
                let features = ConfidenceFeatures(
                    answer: response.text, tokenLogprobs: response.tokenLogprobs, expectedFormat: job.params.expectedFormat)
                self.features = features
                if let raw = features.value(entry.signal) {
                    confidence = Self.rounded(entry.calibrated(raw))
                    low = raw < entry.threshold
                    signal = entry.signal
                    return
                }
            }
            let scorer = ConfidenceScorer(method: method, aggregate: tierSettings.logprobAggregate)
            let score =
                hasToolCalls
                ? scorer.scoreToolCalls(tokenLogprobs: response.tokenLogprobs, selfEvaluation: call.selfEvaluation)
                : scorer.score(
                    answer: response.text, tokenLogprobs: response.tokenLogprobs, expectedFormat: job.params.expectedFormat,
                    selfEvaluation: call.selfEvaluation)
            confidence = score.map(Self.rounded)
        }

        static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
    }

    /// The job's task type for calibration and the metrics: its `metadata.task_type` tag when
    /// that is a valid name, else the reason it was routed for.
    static func taskType(of job: Job) -> String {
        if let tag = job.metadata["task_type"]?.stringValue, tag != "*", CalibrationTable.isValidTaskType(tag) { return tag }
        return job.route?.reason ?? "unrouted"
    }

    /// The accepted small-model answer as a shadow task, when it is sampled: every one while
    /// the POC is not validated, else `shadow.sample_rate` of them; none when the daily budget
    /// is 0 or the job is over `shadow.max_task_bytes`.
    static func shadowTask(
        _ job: Job, response: ProviderResponse, tier: Tier, model: String, gate: Gate, cost: Double, settings: CervellaSettings, context: Context
    ) -> ShadowTask? {
        let shadow = settings.shadow
        guard shadow.dailyBudgetUSD > 0, ShadowTask.isSampled(jobID: job.id, rate: context.flags.pocValidated ? shadow.sampleRate : 1) else {
            return nil
        }
        let size = response.text.utf8.count + job.messages.reduce(0) { $0 + $1.text.utf8.count }
        guard size <= shadow.maxTaskBytes else { return nil }
        let features =
            gate.features
            ?? ConfidenceFeatures(answer: response.text, tokenLogprobs: response.tokenLogprobs, expectedFormat: job.params.expectedFormat)
        let outcome = LabelledOutcome(
            id: job.id, source: .shadow, at: context.now, tier: tier.number, model: model, taskType: gate.taskType, features: features,
            confidence: gate.confidence, good: false, smallCostUSD: cost)
        return ShadowTask(messages: job.messages, answer: response.text, expectedFormat: job.params.expectedFormat, outcome: outcome)
    }
}
