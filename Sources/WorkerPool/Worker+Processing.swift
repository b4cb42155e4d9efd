import ControlPlane
import Foundation
import JobProtocol
import Logging
import Producer
import Providers
import RedisClient
import Scoring
import Settings

extension Worker {
    /// Runs one fetched job to its commit; never throws, never crashes on input.
    func process(_ fetched: FetchedJob) async {
        defer {
            fetcher.release(fetched)
            inFlight.decrement()
            slots.release(bulk: fetched.queue.isBulk)
        }
        let commit: JobCommit
        switch JobDecoding.decode(fetched.payload, keys: keys) {
        case .failure(let failure):
            logger.warning(
                "malformed job sent to the dead letter list",
                metadata: [
                    "cervella.queue": "\(fetched.queue.rawValue)", "cervella.reason": "\(failure.reason)",
                    "cervella.job.id": "\(failure.jobID ?? "-")",
                ])
            commit = JobCommit(
                outcome: .dead(reason: failure.reason, replyTo: failure.replyTo, jobID: failure.jobID, history: [], group: failure.group),
                stats: [.dead])
        case .success(let job):
            var jobLogger = logger
            jobLogger[metadataKey: "cervella.job.id"] = "\(job.id)"
            jobLogger[metadataKey: "cervella.queue"] = "\(fetched.queue.rawValue)"
            // Message Batches (Worker+MessageBatches.swift): a bulk fallback that can wait leaves here.
            if await parkForMessageBatch(job, fetched: fetched, logger: jobLogger) { return }
            // The request's digest, once: its cache key and its single-flight key.
            let digest = job.cache && settings.cache.enabled ? CacheKey.digest(for: job) : nil
            guard var decided = await decide(job, digest: digest, fetched: fetched, logger: jobLogger) else {
                await writer.handBack(fetched)
                return
            }
            if case .reply = decided.outcome, SingleFlight.isEligible(job, settings: settings) {
                decided.flightKey = digest.map(keys.flight)
            }
            commit = decided
        }
        await writer.write(commit, fetched: fetched)
    }

    /// What to do with a decoded job: the I/O (cache, provider calls) between the pure steps
    /// of `JobDecision`. Nil when the job was cancelled by the drain deadline and must go back
    /// to its queue.
    private func decide(_ job: Job, digest: String?, fetched: FetchedJob, logger: Logger) async -> JobCommit? {
        if crashOnFaultJobs, job.metadata["cervella_fault"] == .string("crash") {
            fatalError("fault injection: job \(job.id) asked this process to crash (CERVELLA_FAULT_INJECTION=crash)")
        }
        let now = Date().timeIntervalSince1970
        let route = JobDecision.Route(fetchedFrom: fetched.queue, job: job)
        if let expired = JobDecision.expired(job, route: route, now: now) { return expired }

        let cacheKey = digest.map(keys.cache)
        // Skipped when the producer's enqueue script looked already (`cache_checked`), and on a
        // fallback hop (the small model's answer was not good enough, so nothing was cached).
        let lookup = cacheKey.flatMap { job.fallbackFrom == nil && !job.cacheChecked ? $0 : nil }
        // The cancel flag, when the subscription cannot vouch for it, in the cache's round trip.
        // A group's child is cancelled with its group (completed by `first_n`, failed fast, or
        // cancelled by its coordinator): one flag and one announcement for all its children.
        let cancelIDs = Self.cancelIDs(job)
        let checkFlag = !cancels.vouches(forJobCreatedAt: job.createdAt)
        var reads: [RedisCommand] = []
        if checkFlag { reads.append(RedisCommand("EXISTS", arguments: cancelIDs.map { RedisArgument(keys.cancelled($0)) })) }
        if let lookup { reads.append(RedisCommand("GET", RedisArgument(lookup))) }
        let replies = reads.isEmpty || cancels.wasHeard(cancelIDs) ? nil : try? await commands.pipeline(reads)
        if cancels.wasHeard(cancelIDs) || (checkFlag && (replies?.first?.integer ?? 0) >= 1) {
            let whose = job.group == nil ? "by its producer" : "(or its group was)"
            let result = JobResult.failure(id: job.id, code: "cancelled", message: "the job was cancelled \(whose) before a worker started it")
            return .reply(job, result, stats: route.handled + [.cancelled(tier: route.tier, costUSD: 0)])
        }
        if lookup != nil, let replies, replies.count == reads.count, let bytes = replies.last?.bytes {
            var result = JobResult.fromCache(bytes, for: job, worker: id)
            result.metadata?.queueMs = Self.millis(fetched.poppedAt - job.createdAt)
            let claude = settings.tier(.claude)
            let saved = result.metadata.map { claude.costUSD(inputTokens: $0.tokensInput, outputTokens: $0.tokensOutput) } ?? 0
            return .reply(job, result, stats: [.cacheHit(savedUSD: saved)])
        }

        let flags = live.current
        if let bypass = JobDecision.bypass(job, route: route, flags: flags, settings: settings, now: Date(timeIntervalSince1970: now)) {
            return bypass
        }
        guard let provider = providers[route.tier] else {
            let result = JobResult.failure(id: job.id, code: "provider_unavailable", message: "no provider for tier \(route.tier)")
            return .reply(job, result, stats: route.handled + [.failed(tier: route.tier, code: "provider_unavailable")])
        }
        guard let call = await call(provider, for: job, route: route, now: now, logger: logger) else { return nil }

        var context = JobDecision.Context(
            flags: flags, cacheKey: cacheKey, worker: id, poppedAt: fetched.poppedAt, now: Date().timeIntervalSince1970,
            timestamp: ResultMetadata.timestamp()
        )
        var commit = JobDecision.conclude(job, route: route, call: call, settings: settings, context: context)
        if case .fallback(let next) = commit.outcome, route.smallTier, !(await budget.reserve(next, tier: route.tier, flags: flags)) {
            logger.info(
                "escalation budget holds back a fallback",
                metadata: ["cervella.tier": "\(route.tier)", "cervella.reason": "\(next.fallbackFrom?.reason ?? "-")"])
            context.budgetSuppressed = true
            commit = JobDecision.conclude(job, route: route, call: call, settings: settings, context: context)
        }
        switch commit.outcome {
        case .fallback(let next):
            logger.info(
                "falling back to Claude",
                metadata: [
                    "cervella.tier": "\(route.tier)", "cervella.reason": "\(next.fallbackFrom?.reason ?? "-")",
                    "cervella.provider_error": "\(call.error.map(\.logDescription) ?? "-")",
                ])
        case .reply where call.cancelled:
            logger.info("provider call stopped: the job (or its group) was cancelled", metadata: ["cervella.tier": "\(route.tier)"])
        case .reply where call.response == nil:
            // The full error (the provider's address, its text) is for this log only.
            logger.warning(
                "provider call failed",
                metadata: ["cervella.tier": "\(route.tier)", "cervella.provider_error": "\(call.error.map(\.logDescription) ?? "no response")"])
        case .reply(_, let result, _):
            logger.debug(
                "job answered",
                metadata: [
                    "cervella.tier": "\(route.tier)", "cervella.latency_ms": "\(result.metadata?.latencyMs ?? 0)",
                    "cervella.fallback": "\(job.fallbackFrom != nil)",
                ])
        case .dead:
            break
        }
        return commit
    }

    /// The provider call (with transient failures retried within the budget), and the
    /// model's rating of its answer where the tier scores by self-evaluation. Nil when the
    /// drain deadline cancelled the job.
    ///
    /// A streamed job's call streams (`Worker+Streaming`); any job's call stops at once when
    /// its producer cancels it.
    private func call(_ provider: any ChatProvider, for job: Job, route: JobDecision.Route, now: Double, logger: Logger) async -> JobDecision.Call? {
        let tierSettings = settings.tier(route.tier)
        let request = JobDecision.request(for: job, route: route, settings: settings, now: now)
        let started = ContinuousClock.now
        var call = JobDecision.Call(model: provider.model, latencyMs: 0)
        let session = job.stream ? streamSession(for: job, route: route, provider: provider) : nil
        call.streamMode = session?.mode
        let control = CallControl()
        let retryPolicy = retryPolicy
        let work = Task { () -> Result<ProviderResponse, ProviderError> in
            do throws(ProviderError) {
                var request = request
                return .success(
                    try await retryPolicy.run(
                        budget: request.timeout,
                        // Once a live stream has shown tokens, a new attempt would show them twice.
                        canRetry: { !(session?.relay.released ?? false) },
                        onRetry: { attempt, error, wait in
                            logger.info(
                                "retrying a transient provider failure",
                                metadata: [
                                    "cervella.tier": "\(route.tier)", "cervella.attempt": "\(attempt)", "cervella.error": "\(error.code)",
                                    "cervella.wait_ms": "\(Self.millis(wait))",
                                ])
                        }
                    ) { (timeout: Duration) async throws(ProviderError) -> ProviderResponse in
                        request.timeout = timeout
                        guard let session else { return try await provider.complete(request) }
                        return try await provider.stream(request, to: session.sink(control: control))
                    })
            } catch {
                return .failure(error)
            }
        }
        let outcome = await cancels.whileRunning(
            Self.cancelIDs(job),
            onCancel: {
                control.cancel(); work.cancel()
            }
        ) {
            await withTaskCancellationHandler {
                await work.value
            } onCancel: {
                work.cancel()
            }
        }
        switch outcome {
        case .success(let response): call.response = response
        case .failure(let error): call.error = error
        }
        call.latencyMs = Self.millis(started.duration(to: .now))
        // The commit's `end` entry must follow the `start` entry.
        await session?.relay.settle()
        call.released = session?.relay.released ?? false
        call.earlyEscalation = control.escalation
        if control.isCancelled {
            call.cancelled = true
            if call.response == nil, control.tokens > 0 {
                // Aborted between two deltas: the tokens seen are what the call cost.
                call.response = ProviderResponse(
                    text: "", tokensInput: TokenEstimator.estimate(request.messages), tokensOutput: control.tokens, model: provider.model)
            }
            return call
        }
        if Task.isCancelled { return nil }

        if tierSettings.confidenceMethod == .selfEval, let response = call.response, !response.text.isEmpty {
            let question = job.messages.last { $0.role == "user" }?.text ?? ""
            let budgetMs = JobDecision.callBudgetMs(job, route: route, settings: settings, now: now)
            let rating = ProviderRequest(
                messages: [ChatMessage(role: "user", content: SelfEvaluation.prompt(question: question, answer: response.text))],
                maxTokens: 5, temperature: 0, timeout: .milliseconds(max(1, budgetMs - call.latencyMs))
            )
            if let reply = try? await provider.complete(rating) {
                call.selfEvaluation = SelfEvaluation.parse(reply.text)
                call.selfEvaluationCostUSD = tierSettings.costUSD(inputTokens: reply.tokensInput, outputTokens: reply.tokensOutput)
            }
            if Task.isCancelled { return nil }
        }
        return call
    }

    static func millis(_ seconds: Double) -> Int { Int.milliseconds(fromSeconds: seconds) }

    /// The ids whose cancellation stops `job`: its own, and its group's.
    static func cancelIDs(_ job: Job) -> [String] { [job.id] + (job.group.map { [$0] } ?? []) }

    static func millis(_ duration: Duration) -> Int { duration.wholeMilliseconds }
}
