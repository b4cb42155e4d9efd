import Foundation
import JobProtocol

extension CervellaSettings {
    /// Checks every value once, at start-up, so that a bad setting stops the process with a
    /// message naming it instead of failing later on a job.
    public func validate() throws(SettingsError) {
        guard redis.url.hasPrefix("redis://") || redis.url.hasPrefix("redis-sentinel://") else {
            throw SettingsError(
                key: "redis.url", "'\(Self.redactedURL(redis.url))' must start with redis:// or redis-sentinel:// (REDIS_URL overrides it)")
        }
        guard !redis.keyPrefix.isEmpty, !redis.keyPrefix.contains(where: \.isWhitespace) else {
            throw SettingsError(key: "redis.key_prefix", "must be non-empty and contain no spaces")
        }
        try positive(redis.replyTTLSeconds, "redis.reply_ttl_seconds")
        try validateMessageBatches()
        try positive(cache.ttlSeconds, "cache.ttl_seconds (REDIS_TTL_SECONDS)")
        try positive(fallback.timeoutMs, "fallback.timeout_ms (FALLBACK_TIMEOUT_MS)")
        try positive(worker.concurrency, "worker.concurrency")
        guard (0...0.9).contains(worker.interactiveReserve) else {
            throw SettingsError(key: "worker.interactive_reserve", "must be a share between 0 and 0.9, got \(worker.interactiveReserve)")
        }
        guard (0...0.5).contains(worker.bulkShare) else {
            throw SettingsError(key: "worker.bulk_share", "must be a share between 0 and 0.5, got \(worker.bulkShare)")
        }
        guard worker.blockTimeoutSeconds > 0, worker.blockTimeoutSeconds <= 5 else {
            throw SettingsError(key: "worker.block_timeout_seconds", "must be in (0, 5] so that shutdown is noticed quickly")
        }
        guard worker.heartbeatIntervalSeconds > 0 else {
            throw SettingsError(key: "worker.heartbeat_interval_seconds", "must be positive, got \(worker.heartbeatIntervalSeconds)")
        }
        guard Double(worker.heartbeatTTLSeconds) > worker.heartbeatIntervalSeconds * 2 else {
            throw SettingsError(
                key: "worker.heartbeat_ttl_seconds",
                "must exceed twice worker.heartbeat_interval_seconds, or one slow beat would declare a live worker dead")
        }
        guard worker.reaperIntervalSeconds > 0 else {
            throw SettingsError(key: "worker.reaper_interval_seconds", "must be positive")
        }
        guard worker.statsFlushSeconds > 0 else {
            throw SettingsError(key: "worker.stats_flush_seconds", "must be positive")
        }
        guard worker.drainTimeoutSeconds >= 0 else {
            throw SettingsError(key: "worker.drain_timeout_seconds", "must not be negative")
        }
        for (value, key) in [
            (worker.blockTimeoutSeconds, "worker.block_timeout_seconds"), (worker.heartbeatIntervalSeconds, "worker.heartbeat_interval_seconds"),
            (worker.drainTimeoutSeconds, "worker.drain_timeout_seconds"), (worker.reaperIntervalSeconds, "worker.reaper_interval_seconds"),
            (worker.statsFlushSeconds, "worker.stats_flush_seconds"),
        ] where !(value <= 86_400) {
            throw SettingsError(key: key, "must be at most 86400 seconds, got \(value)")
        }
        guard (0...86_400).contains(worker.autoRollbackDownSeconds) else {
            throw SettingsError(key: "worker.auto_rollback_down_seconds", "must be 0 (off) to 86400 seconds, got \(worker.autoRollbackDownSeconds)")
        }
        guard (1...86_400).contains(worker.autoRollbackUpSeconds) else {
            throw SettingsError(key: "worker.auto_rollback_up_seconds", "must be 1 to 86400 seconds, got \(worker.autoRollbackUpSeconds)")
        }
        guard (100...600_000).contains(scaling.p95ThresholdMs) else {
            throw SettingsError(key: "scaling.p95_threshold_ms", "must be 100 to 600000 ms, got \(scaling.p95ThresholdMs)")
        }
        guard (20...3600).contains(scaling.windowSeconds) else {
            throw SettingsError(key: "scaling.window_seconds", "must be 20 to 3600 seconds, got \(scaling.windowSeconds)")
        }
        guard (10...86_400).contains(scaling.webhookIntervalSeconds) else {
            throw SettingsError(key: "scaling.webhook_interval_seconds", "must be 10 to 86400 seconds, got \(scaling.webhookIntervalSeconds)")
        }
        if let url = scaling.webhookURL {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
                throw SettingsError(
                    key: "scaling.webhook_url", "must be an http:// or https:// URL (CERVELLA_SCALE_WEBHOOK_URL overrides it); it is not shown here")
            }
        }
        guard worker.heartbeatTTLSeconds <= 86_400 else {
            throw SettingsError(key: "worker.heartbeat_ttl_seconds", "must be at most 86400 seconds, got \(worker.heartbeatTTLSeconds)")
        }
        guard (1...64).contains(worker.probationProcesses) else {
            throw SettingsError(key: "worker.probation_processes", "must be 1 to 64, got \(worker.probationProcesses)")
        }
        guard (1...10_000_000).contains(worker.deadLetterMaxLength) else {
            throw SettingsError(key: "worker.dead_letter_max_length", "must be 1 to 10000000, got \(worker.deadLetterMaxLength)")
        }
        guard (256...16_777_216).contains(worker.deadLetterPayloadBytes) else {
            throw SettingsError(key: "worker.dead_letter_payload_bytes", "must be 256 to 16777216, got \(worker.deadLetterPayloadBytes)")
        }
        for name in worker.queues where !QueueName.workQueues.contains(where: { $0.rawValue == name }) {
            throw SettingsError(key: "worker.queues", "unknown queue '\(name)'; use tier1, tier2, tier3 or fallback")
        }
        guard Tier(producer.defaultTier) != nil else {
            throw SettingsError(key: "producer.default_tier (DEFAULT_TIER)", "must be 1, 2 or 3, got \(producer.defaultTier)")
        }
        guard producer.jobTimeoutSeconds > 0, producer.jobTimeoutSeconds <= 86_400 else {
            throw SettingsError(key: "producer.job_timeout_seconds", "must be more than 0 and at most 86400 seconds")
        }
        try gateway.validate()
        guard routing.contextLimitTokens > 0 else {
            throw SettingsError(key: "routing.context_limit_tokens", "must be positive")
        }
        for (key, value) in [
            ("routing.tier1_percentage (TIER_1_PERCENTAGE)", routing.tier1Percentage),
            ("routing.tier2_percentage (TIER_2_PERCENTAGE)", routing.tier2Percentage),
        ] {
            guard (0...100).contains(value) else { throw SettingsError(key: key, "must be a percentage between 0 and 100, got \(value)") }
        }
        guard shadow.sampleRate.isFinite, (0...1).contains(shadow.sampleRate) else {
            throw SettingsError(key: "shadow.sample_rate", "must be 0 to 1 (0.05 samples 5% of accepted small-model answers)")
        }
        guard shadow.dailyBudgetUSD.isFinite, (0...100_000).contains(shadow.dailyBudgetUSD) else {
            throw SettingsError(key: "shadow.daily_budget_usd", "must be 0 (off) to 100000")
        }
        for (key, value) in [
            ("budget.fallback_hourly_usd (CERVELLA_FALLBACK_HOURLY_USD)", budget.fallbackHourlyUSD),
            ("budget.fallback_daily_usd (CERVELLA_FALLBACK_DAILY_USD)", budget.fallbackDailyUSD),
        ] {
            guard value.isFinite, (0...1_000_000).contains(value) else { throw SettingsError(key: key, "must be 0 (no cap) to 1000000 dollars") }
        }
        guard budget.fallbackNearShare.isFinite, (0.1...1).contains(budget.fallbackNearShare) else {
            throw SettingsError(
                key: "budget.fallback_near_share", "must be 0.1 to 1 (0.8: the last 20% of a cap goes to the fallbacks that matter most)")
        }
        guard budget.fallbackErrorOverrun.isFinite, (0...1).contains(budget.fallbackErrorOverrun) else {
            throw SettingsError(key: "budget.fallback_error_overrun", "must be 0 to 1 (0.2: errors may escalate to 120% of a cap)")
        }
        guard (1...1_000_000).contains(shadow.maxPending) else { throw SettingsError(key: "shadow.max_pending", "must be 1 to 1000000") }
        guard (1_024...1_048_576).contains(shadow.maxTaskBytes) else {
            throw SettingsError(key: "shadow.max_task_bytes", "must be 1024 to 1048576 bytes")
        }
        guard (0...2_592_000).contains(routing.feedbackWindowSeconds) else {
            throw SettingsError(key: "routing.feedback_window_seconds", "must be 0 (no feedback) to 2592000 (30 days)")
        }
        guard routing.backlogDeadlineShare.isFinite, (0...1).contains(routing.backlogDeadlineShare) else {
            throw SettingsError(
                key: "routing.backlog_deadline_share", "must be 0 (off) to 1 (0.5: a job that would wait half its timeout goes to Claude)")
        }
        guard (100...10_000_000).contains(routing.outcomesMaxLength) else {
            throw SettingsError(key: "routing.outcomes_max_length", "must be 100 to 10000000 entries")
        }
        for pattern in routing.simplePatterns {
            do { _ = try NSRegularExpression(pattern: pattern) } catch {
                throw SettingsError(key: "routing.simple_patterns", "'\(pattern)' is not a valid regular expression")
            }
        }
        for number in Tier.allCases {
            let tier = self.tier(number)
            let key = "tier\(number)"
            guard !tier.model.isEmpty else { throw SettingsError(key: "\(key).model", "must not be empty") }
            let needsEndpoints = tier.kind != .instant
            guard !needsEndpoints || !tier.endpoints.isEmpty else { throw SettingsError(key: "\(key).endpoints", "list at least one base URL") }
            for endpoint in tier.endpoints where needsEndpoints {
                guard let url = URL(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                    throw SettingsError(key: "\(key).endpoints", "'\(endpoint)' is not an http(s) URL such as http://gpu-host:8000")
                }
            }
            guard (0...1).contains(tier.confidenceThreshold) else {
                throw SettingsError(
                    key: "\(key).confidence_threshold (TIER_\(number)_CONFIDENCE_THRESHOLD)",
                    "must be between 0 and 1, got \(tier.confidenceThreshold)")
            }
            guard (0...100_000).contains(tier.earlyEscalationTokens) else {
                throw SettingsError(
                    key: "\(key).early_escalation_tokens", "must be between 0 (never early) and 100000, got \(tier.earlyEscalationTokens)")
            }
            guard (0...1).contains(tier.earlyEscalationMargin) else {
                throw SettingsError(key: "\(key).early_escalation_margin", "must be between 0 and 1, got \(tier.earlyEscalationMargin)")
            }
            try positive(tier.timeoutMs, "\(key).timeout_ms")
            try positive(tier.defaultMaxTokens, "\(key).default_max_tokens")
        }
    }

    private func positive(_ value: Int, _ key: String) throws(SettingsError) {
        guard value > 0 else { throw SettingsError(key: key, "must be a positive number, got \(value)") }
    }

    static func redactedURL(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        return String(url[..<scheme.upperBound]) + "***" + String(url[at...])
    }
}
