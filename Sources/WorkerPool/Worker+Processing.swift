import ControlPlane
import Foundation
import JobProtocol
import Logging
import Providers
import RedisClient
import Scoring
import Settings

extension Worker {
    /// Runs one fetched job to its commit; never throws, never crashes on input.
    func process(_ fetched: FetchedJob) async {
        defer {
            release(fetched)
            inFlight.decrement()
            slots.release()
        }
        let commit: JobCommit
        switch JobDecoding.decode(fetched.payload, keys: keys) {
        case .failure(let failure):
            logger.warning("malformed job sent to the dead letter list", metadata: [
                "cervella.queue": "\(fetched.queue.rawValue)", "cervella.reason": "\(failure.reason)",
                "cervella.job.id": "\(failure.jobID ?? "-")",
            ])
            commit = JobCommit(outcome: .dead(reason: failure.reason, replyTo: failure.replyTo, jobID: failure.jobID, history: []), stats: [.dead])
        case .success(let job):
            var jobLogger = logger
            jobLogger[metadataKey: "cervella.job.id"] = "\(job.id)"
            jobLogger[metadataKey: "cervella.queue"] = "\(fetched.queue.rawValue)"
            guard let decided = await decide(job, fetched: fetched, logger: jobLogger) else {
                await handBack(fetched)
                return
            }
            commit = decided
        }
        await write(commit, fetched: fetched)
    }

    /// What to do with a decoded job; nil when the job was cancelled by the drain deadline and
    /// must go back to its queue.
    private func decide(_ job: Job, fetched: FetchedJob, logger: Logger) async -> JobCommit? {
        if crashOnFaultJobs, job.metadata["cervella_fault"] == .string("crash") {
            fatalError("fault injection: job \(job.id) asked this process to crash (CERVELLA_FAULT_INJECTION=crash)")
        }
        let now = Date().timeIntervalSince1970
        // A quarantined job runs as the queue it was recovered from.
        let queue = fetched.queue == .quarantine ? job.originQueue : fetched.queue
        let tier = queue.servingTier
        let smallTier = tier < 3 && queue != .fallback
        // Counted once, where the job was routed; a fallback hop is not a new request.
        let handled: [StatsEvent] = queue == .fallback ? [] : [.handled(tier: tier)]
        if let deadline = job.deadlineAt, now > deadline {
            let result = JobResult.failure(id: job.id, code: "deadline_exceeded", message: "the job's deadline passed \(Int.milliseconds(fromSeconds: now - deadline)) ms before a worker took it; no provider was called")
            return .reply(job, result, stats: handled + [.failed(tier: tier, code: "deadline_exceeded")])
        }
        let tierSettings = settings.tier(tier)
        let claude = settings.tier(3)
        let cacheKey = job.cache && settings.cache.enabled ? keys.cache(CacheKey.digest(for: job)) : nil

        // Skipped when the producer's enqueue script looked already (`cache_checked`), and on a
        // fallback hop (the small model's answer was not good enough, so nothing was cached).
        if let cacheKey, job.fallbackFrom == nil, !job.cacheChecked, let hit = try? await commands.send("GET", RedisArgument(cacheKey)), let bytes = hit.bytes {
            var result = JobResult.fromCache(bytes, for: job, worker: id)
            result.metadata?.queueMs = Self.millis(fetched.poppedAt - job.createdAt)
            let saved = result.metadata.map { claude.costUSD(inputTokens: $0.tokensInput, outputTokens: $0.tokensOutput) } ?? 0
            return .reply(job, result, stats: [.cacheHit(savedUSD: saved)])
        }

        let flags = live.current
        if smallTier && !flags.isEnabled(tier) {
            // Rollback or a toggled-off tier: no small-model call; Claude answers instead.
            var next = job
            let reason = "tier\(tier)_disabled"
            next.fallbackFrom = FallbackOrigin(tier: tier, model: tierSettings.model, reason: reason, confidence: nil, latencyMs: 0, costUSD: 0)
            return JobCommit(outcome: .fallback(job: next), stats: handled + [.fellBack(tier: tier, reason: reason, confidence: nil, costUSD: 0)])
        }
        guard let provider = providers[tier] else {
            let result = JobResult.failure(id: job.id, code: "provider_unavailable", message: "no provider for tier \(tier)")
            return .reply(job, result, stats: handled + [.failed(tier: tier, code: "provider_unavailable")])
        }
        let timeoutMs = smallTier ? settings.fallback.timeoutMs : tierSettings.timeoutMs
        let remainingMs = job.deadlineAt.map { Int.milliseconds(fromSeconds: $0 - now) } ?? timeoutMs
        var request = ProviderRequest(
            messages: job.messages, maxTokens: job.params.maxTokens ?? tierSettings.defaultMaxTokens,
            temperature: job.params.temperature, topP: job.params.topP, stop: job.params.stop,
            wantLogprobs: tierSettings.kind == .openai && [.auto, .logprobs].contains(tierSettings.confidenceMethod),
            timeout: .milliseconds(max(1, min(timeoutMs, remainingMs)))
        )

        let started = ContinuousClock.now
        var response: ProviderResponse?
        var providerError: ProviderError?
        do {
            response = try await retryPolicy.run(budget: request.timeout, onRetry: { attempt, error, wait in
                logger.info("retrying a transient provider failure", metadata: [
                    "cervella.tier": "\(tier)", "cervella.attempt": "\(attempt)", "cervella.error": "\(error.code)", "cervella.wait_ms": "\(Self.millis(wait))",
                ])
            }) { (timeout: Duration) async throws(ProviderError) -> ProviderResponse in
                request.timeout = timeout
                return try await provider.complete(request)
            }
        } catch {
            providerError = error
        }
        if Task.isCancelled { return nil }
        let latencyMs = Self.millis(started.duration(to: .now))
        var cost = response.map { tierSettings.costUSD(inputTokens: $0.tokensInput, outputTokens: $0.tokensOutput, cachedInputTokens: $0.tokensCachedInput) }
            // A failed call still took GPU time on a self-hosted tier.
            ?? tierSettings.costUSD(inputTokens: 0, outputTokens: 0)

        var selfEvaluation: Double?
        if tierSettings.confidenceMethod == .selfEval, let response, !response.text.isEmpty {
            let question = job.messages.last { $0.role == "user" }?.text ?? ""
            let rating = ProviderRequest(
                messages: [ChatMessage(role: "user", content: SelfEvaluation.prompt(question: question, answer: response.text))],
                maxTokens: 5, temperature: 0,
                timeout: .milliseconds(max(1, min(timeoutMs, remainingMs) - latencyMs))
            )
            if let reply = try? await provider.complete(rating) {
                selfEvaluation = SelfEvaluation.parse(reply.text)
                cost += tierSettings.costUSD(inputTokens: reply.tokensInput, outputTokens: reply.tokensOutput)
            }
            if Task.isCancelled { return nil }
        }

        let scorer = ConfidenceScorer(method: tierSettings.confidenceMethod, aggregate: tierSettings.logprobAggregate)
        let confidence = response.flatMap {
            scorer.score(answer: $0.text, tokenLogprobs: $0.tokenLogprobs, expectedFormat: job.params.expectedFormat, selfEvaluation: selfEvaluation)
        }.map { ($0 * 1000).rounded() / 1000 }

        let verdict = Verdict.decide(Verdict.Inputs(
            smallTier: smallTier, answer: response?.text, confidence: confidence, latencyMs: latencyMs,
            errorReason: providerError?.fallbackReason,
            policy: FallbackPolicy(confidenceThreshold: tierSettings.confidenceThreshold, latencyLimitMs: settings.fallback.timeoutMs),
            fallbackEnabled: flags.fallbackEnabled, jobAllowsFallback: job.enableFallback
        ))
        var suppressed: String?
        switch verdict {
        case .fallBack(let reason):
            logger.info("falling back to Claude", metadata: ["cervella.tier": "\(tier)", "cervella.reason": "\(reason)", "cervella.provider_error": "\(providerError.map(\.logDescription) ?? "-")"])
            var next = job
            next.fallbackFrom = FallbackOrigin(tier: tier, model: provider.model, reason: reason, confidence: confidence, latencyMs: latencyMs, costUSD: cost)
            return JobCommit(outcome: .fallback(job: next), stats: handled + [.fellBack(tier: tier, reason: reason, confidence: confidence, costUSD: cost)])
        case .answer(let kept):
            suppressed = kept
        case .fail:
            break
        }

        guard let response else {
            let error = providerError ?? ProviderError(.badResponse, "no response")
            // The client learns what failed, not where or what the provider said: its address
            // and its error text (which can quote the request) stay in this log line.
            logger.warning("provider call failed", metadata: ["cervella.tier": "\(tier)", "cervella.provider_error": "\(error.logDescription)"])
            let result = JobResult.failure(id: job.id, code: error.fallbackReason, message: "\(provider.model) failed: \(error.clientMessage)")
            return .reply(job, result, stats: handled + [.failed(tier: tier, code: error.fallbackReason)])
        }

        let discarded = job.fallbackFrom?.costUSD ?? 0
        let totalCost = cost + discarded
        let metadata = ResultMetadata(
            modelUsed: provider.model, tier: tier, latencyMs: Self.millis(Date().timeIntervalSince1970 - job.createdAt),
            queueMs: Self.millis(fetched.poppedAt - job.createdAt), confidence: confidence,
            costUSD: (totalCost * 1e9).rounded() / 1e9,
            tokensInput: response.tokensInput, tokensOutput: response.tokensOutput,
            fallback: job.fallbackFrom != nil, fallbackReason: job.fallbackFrom?.reason,
            originalModel: job.fallbackFrom?.model, originalConfidence: job.fallbackFrom?.confidence,
            tierDecisionReason: job.route?.reason ?? "queue_\(queue.rawValue)", cacheHit: false,
            worker: id, timestamp: ResultMetadata.timestamp(),
            reasoningChars: response.reasoning.map(\.count), fallbackSuppressed: suppressed
        )
        logger.debug("job answered", metadata: ["cervella.tier": "\(tier)", "cervella.latency_ms": "\(metadata.latencyMs)", "cervella.fallback": "\(metadata.fallback)"])
        let cacheable = Verdict.isCacheable(verdict, answer: response.text)
        let claudeEquivalent = claude.costUSD(inputTokens: response.tokensInput, outputTokens: response.tokensOutput)
        let answered = StatsEvent.answered(tier: tier, latencyMs: metadata.latencyMs, confidence: confidence, costUSD: cost, claudeEquivalentUSD: claudeEquivalent)
        return .reply(job, .success(id: job.id, response: response.text, metadata: metadata), cacheKey: cacheable ? cacheKey : nil, stats: handled + [answered])
    }

    /// Writes the outcome and removes the job from the processing list in one atomic step.
    ///
    /// While Redis is unreachable the commit is retried with capped backoff for as long as the
    /// worker runs: this worker's heartbeat stops with Redis too, but comes back with it, so
    /// the reaper would never take the job back from a live worker, and giving up here would
    /// strand it. The done guard makes a retry safe when a commit's reply was lost. Only when
    /// stopping does it give up (after a few tries): the process then exits, its heartbeat
    /// expires, and the reaper recovers the job.
    private func write(_ commit: JobCommit, fetched: FetchedJob) async {
        let plan = commit.plan(keys: keys, settings: settings, fetched: fetched, worker: id)
        var attempt = 0
        while true {
            do {
                if try await execute(plan) {
                    stats.add(commit.stats)
                    WorkerMetrics.observe(commit, queue: fetched.queue, settings: settings)
                } else {
                    stats.add([.duplicate])
                    WorkerMetrics.duplicate()
                    logger.warning("job was already answered by another worker; this answer is dropped", metadata: [
                        "cervella.queue": "\(fetched.queue.rawValue)", "cervella.job.id": "\(plan.guardKey.map { String($0.dropFirst(keys.prefix.count + 6)) } ?? "-")",
                    ])
                }
                return
            } catch {
                attempt += 1
                if isStopping && attempt >= 5 {
                    logger.error("cannot commit the job's outcome while stopping; it stays in the processing list for the reaper", metadata: ["cervella.error": "\(error)"])
                    return
                }
                if attempt & (attempt - 1) == 0 {
                    logger.error("cannot commit a job's outcome; retrying until Redis is back", metadata: ["cervella.error": "\(error)", "cervella.attempt": "\(attempt)"])
                }
                try? await Task.sleep(for: .milliseconds(min(2_000, 50 << min(attempt, 6))))
            }
        }
    }

    /// Runs a commit plan: guarded by the job's done key when it has one, else one MULTI/EXEC.
    /// Returns false when another worker had already answered the job.
    func execute(_ plan: JobCommit.Plan) async throws -> Bool {
        guard let guardKey = plan.guardKey else {
            _ = try await commands.transaction(plan.first + plan.always)
            return true
        }
        let arguments = GuardedCommit.arguments(ttlSeconds: plan.guardTTLSeconds, owner: id, first: plan.first, duplicate: plan.duplicate, always: plan.always)
        return try await commands.evaluate(GuardedCommit.script, keys: [RedisArgument(guardKey)], arguments: arguments).integer == 1
    }

    /// Puts an unfinished job back at the head of its queue (the end workers pop from).
    func handBack(_ fetched: FetchedJob) async {
        let payload = RedisArgument(bytes: fetched.payload)
        do {
            _ = try await commands.transaction([
                RedisCommand("LREM", RedisArgument(keys.processing(fetched.queue, worker: id)), 1, payload),
                RedisCommand("RPUSH", RedisArgument(keys.queue(fetched.queue)), payload),
            ])
            logger.info("unfinished job handed back to its queue", metadata: ["cervella.queue": "\(fetched.queue.rawValue)"])
        } catch {
            logger.error("cannot hand the job back; it stays in the processing list for recovery", metadata: ["cervella.error": "\(error)"])
        }
    }

    static func millis(_ seconds: Double) -> Int { Int.milliseconds(fromSeconds: seconds) }

    static func millis(_ duration: Duration) -> Int { duration.wholeMilliseconds }
}
