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
        defer { slots.release() }
        let commit: JobCommit
        switch JobDecoding.decode(fetched.payload, keys: keys) {
        case .failure(let failure):
            logger.warning("malformed job sent to the dead letter list", metadata: [
                "cervella.queue": "\(fetched.queue.rawValue)", "cervella.reason": "\(failure.reason)",
                "cervella.job.id": "\(failure.jobID ?? "-")",
            ])
            commit = .dead(reason: failure.reason, replyTo: failure.replyTo, jobID: failure.jobID)
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
        let now = Date().timeIntervalSince1970
        if let deadline = job.deadlineAt, now > deadline {
            return .reply(job: job, result: .failure(id: job.id, code: "deadline_exceeded", message: "the job's deadline passed \(Int((now - deadline) * 1000)) ms before a worker took it; no provider was called"), cacheKey: nil)
        }
        let tier = fetched.queue.servingTier
        let tierSettings = settings.tier(tier)
        let cacheKey = job.cache && settings.cache.enabled ? keys.cache(CacheKey.digest(for: job)) : nil

        if let cacheKey, job.fallbackFrom == nil, let hit = try? await commands.send("GET", RedisArgument(cacheKey)), let bytes = hit.bytes {
            var result = JobResult.fromCache(bytes, for: job, worker: id)
            result.metadata?.queueMs = Self.millis(fetched.poppedAt - job.createdAt)
            return .reply(job: job, result: result, cacheKey: nil)
        }

        guard let provider = providers[tier] else {
            return .reply(job: job, result: .failure(id: job.id, code: "provider_unavailable", message: "no provider for tier \(tier)"), cacheKey: nil)
        }
        let smallTier = tier < 3 && fetched.queue != .fallback
        let timeoutMs = smallTier ? settings.fallback.timeoutMs : tierSettings.timeoutMs
        let remainingMs = job.deadlineAt.map { Int(($0 - now) * 1000) } ?? timeoutMs
        let request = ProviderRequest(
            messages: job.messages, maxTokens: job.params.maxTokens ?? tierSettings.defaultMaxTokens,
            temperature: job.params.temperature, topP: job.params.topP, stop: job.params.stop,
            wantLogprobs: tierSettings.kind == .openai && [.auto, .logprobs].contains(tierSettings.confidenceMethod),
            timeout: .milliseconds(max(1, min(timeoutMs, remainingMs)))
        )

        let started = ContinuousClock.now
        var response: ProviderResponse?
        var providerError: ProviderError?
        do {
            response = try await provider.complete(request)
        } catch {
            providerError = error
        }
        if Task.isCancelled { return nil }
        let latencyMs = Self.millis(started.duration(to: .now))

        let scorer = ConfidenceScorer(method: tierSettings.confidenceMethod)
        let confidence = response.flatMap { scorer.score(answer: $0.text, tokenLogprobs: $0.tokenLogprobs, expectedFormat: job.params.expectedFormat) }

        if smallTier && settings.fallback.enabled && job.enableFallback {
            let policy = FallbackPolicy(confidenceThreshold: tierSettings.confidenceThreshold, latencyLimitMs: settings.fallback.timeoutMs)
            if case .fallback(let reason) = policy.decide(answer: response?.text, confidence: confidence, latencyMs: latencyMs, errorReason: providerError?.fallbackReason) {
                logger.info("falling back to Claude", metadata: ["cervella.tier": "\(tier)", "cervella.reason": "\(reason)", "cervella.error": "\(providerError.map { "\($0)" } ?? "-")"])
                var next = job
                next.fallbackFrom = FallbackOrigin(tier: tier, model: provider.model, reason: reason, confidence: confidence, latencyMs: latencyMs)
                return .fallback(job: next)
            }
        }

        guard let response else {
            let error = providerError ?? ProviderError(.badResponse, "no response")
            logger.warning("provider call failed", metadata: ["cervella.tier": "\(tier)", "cervella.error": "\(error)"])
            return .reply(job: job, result: .failure(id: job.id, code: error.fallbackReason, message: "\(provider.model) failed: \(error)"), cacheKey: nil)
        }

        let metadata = ResultMetadata(
            modelUsed: provider.model, tier: tier, latencyMs: Self.millis(Date().timeIntervalSince1970 - job.createdAt),
            queueMs: Self.millis(fetched.poppedAt - job.createdAt), confidence: confidence.map { ($0 * 1000).rounded() / 1000 },
            costUSD: tierSettings.costUSD(inputTokens: response.tokensInput, outputTokens: response.tokensOutput),
            tokensInput: response.tokensInput, tokensOutput: response.tokensOutput,
            fallback: job.fallbackFrom != nil, fallbackReason: job.fallbackFrom?.reason,
            originalModel: job.fallbackFrom?.model, originalConfidence: job.fallbackFrom?.confidence,
            tierDecisionReason: job.route?.reason ?? "queue_\(fetched.queue.rawValue)", cacheHit: false,
            worker: id, timestamp: ResultMetadata.timestamp()
        )
        logger.debug("job answered", metadata: ["cervella.tier": "\(tier)", "cervella.latency_ms": "\(metadata.latencyMs)", "cervella.fallback": "\(metadata.fallback)"])
        // Empty answers (possible once fallback is off) are returned but never cached.
        let cacheable = !response.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        return .reply(job: job, result: .success(id: job.id, response: response.text, metadata: metadata), cacheKey: cacheable ? cacheKey : nil)
    }

    /// Writes the outcome and removes the job from the processing list in one MULTI/EXEC,
    /// retrying while Redis is unreachable (the job stays safe in the processing list).
    private func write(_ commit: JobCommit, fetched: FetchedJob) async {
        let commands = commit.commands(keys: keys, settings: settings, fetched: fetched, worker: id)
        var attempt = 0
        while true {
            do {
                _ = try await self.commands.transaction(commands)
                return
            } catch {
                attempt += 1
                if attempt >= 8 || (isStopping && attempt >= 3) {
                    logger.error("cannot commit the job's outcome; it stays in the processing list for recovery", metadata: ["cervella.error": "\(error)"])
                    return
                }
                try? await Task.sleep(for: .milliseconds(min(2_000, 50 << attempt)))
            }
        }
    }

    /// Puts an unfinished job back at the head of its queue (the end workers pop from).
    private func handBack(_ fetched: FetchedJob) async {
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

    static func millis(_ seconds: Double) -> Int { max(0, Int((seconds * 1000).rounded())) }

    static func millis(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
