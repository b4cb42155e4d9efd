import Foundation
import JobProtocol
import TOMLKit

extension CervellaSettings {
    /// Reads `path` (when given), then the environment, then resolves secrets and validates.
    ///
    /// Unknown keys are errors: a typo such as `confidence_treshold` would otherwise be a
    /// silently ignored setting.
    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(SettingsError)
        -> CervellaSettings
    {
        var settings = CervellaSettings()
        if let path {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw SettingsError(key: path, "cannot read the configuration file: \(error.localizedDescription)")
            }
            try settings.apply(toml: text, source: path)
        }
        try settings.apply(environment: environment)
        try settings.resolveSecrets(environment: environment)
        try settings.validate()
        return settings
    }

    /// Applies a TOML document over the current values.
    public mutating func apply(toml text: String, source: String = "worker.toml") throws(SettingsError) {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw SettingsError(
                key: source, "TOML syntax error at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            throw SettingsError(key: source, "TOML syntax error: \(error)")
        }
        let reader = TOMLReader(root: root)
        try reader.allowOnly(
            [
                "redis", "cache", "fallback", "worker", "producer", "routing", "calibration", "budget", "gateway", "scaling", "shadow",
                "message_batches", "tier1",
                "tier2",
                "tier3",
            ],
            in: "")

        if let table = try reader.table("redis") {
            try table.allowOnly(["url", "key_prefix", "reply_ttl_seconds"])
            try table.read("url", into: &redis.url)
            try table.read("key_prefix", into: &redis.keyPrefix)
            try table.read("reply_ttl_seconds", into: &redis.replyTTLSeconds)
        }
        if let table = try reader.table("cache") {
            try table.allowOnly(["enabled", "ttl_seconds", "single_flight"])
            try table.read("enabled", into: &cache.enabled)
            try table.read("single_flight", into: &cache.singleFlight)
            try table.read("ttl_seconds", into: &cache.ttlSeconds)
        }
        if let table = try reader.table("fallback") {
            try table.allowOnly(["enabled", "timeout_ms"])
            try table.read("enabled", into: &fallback.enabled)
            try table.read("timeout_ms", into: &fallback.timeoutMs)
        }
        if let table = try reader.table("worker") {
            try table.allowOnly([
                "queues", "concurrency", "block_timeout_seconds", "heartbeat_interval_seconds", "heartbeat_ttl_seconds", "drain_timeout_seconds",
                "reaper_interval_seconds", "stats_flush_seconds", "metrics_port", "probation_processes", "dead_letter_max_length",
                "dead_letter_payload_bytes", "interactive_reserve", "bulk_share", "auto_rollback_down_seconds", "auto_rollback_up_seconds",
            ])
            try table.read("queues", into: &worker.queues)
            try table.read("concurrency", into: &worker.concurrency)
            try table.read("block_timeout_seconds", into: &worker.blockTimeoutSeconds)
            try table.read("heartbeat_interval_seconds", into: &worker.heartbeatIntervalSeconds)
            try table.read("heartbeat_ttl_seconds", into: &worker.heartbeatTTLSeconds)
            try table.read("drain_timeout_seconds", into: &worker.drainTimeoutSeconds)
            try table.read("reaper_interval_seconds", into: &worker.reaperIntervalSeconds)
            try table.read("stats_flush_seconds", into: &worker.statsFlushSeconds)
            try table.read("metrics_port", into: &worker.metricsPort)
            try table.read("probation_processes", into: &worker.probationProcesses)
            try table.read("dead_letter_max_length", into: &worker.deadLetterMaxLength)
            try table.read("dead_letter_payload_bytes", into: &worker.deadLetterPayloadBytes)
            try table.read("interactive_reserve", into: &worker.interactiveReserve)
            try table.read("auto_rollback_down_seconds", into: &worker.autoRollbackDownSeconds)
            try table.read("auto_rollback_up_seconds", into: &worker.autoRollbackUpSeconds)
            try table.read("bulk_share", into: &worker.bulkShare)
        }
        if let table = try reader.table("producer") {
            try table.allowOnly(["default_tier", "job_timeout_seconds"])
            try table.read("default_tier", into: &producer.defaultTier)
            try table.read("job_timeout_seconds", into: &producer.jobTimeoutSeconds)
        }
        if let table = try reader.table("gateway") {
            try gateway.apply(table)
        }
        if let table = try reader.table("scaling") {
            try table.allowOnly(["p95_threshold_ms", "window_seconds", "webhook_url", "webhook_interval_seconds"])
            try table.read("p95_threshold_ms", into: &scaling.p95ThresholdMs)
            try table.read("window_seconds", into: &scaling.windowSeconds)
            var url = scaling.webhookURL ?? ""
            try table.read("webhook_url", into: &url)
            scaling.webhookURL = url.isEmpty ? nil : url
            try table.read("webhook_interval_seconds", into: &scaling.webhookIntervalSeconds)
        }
        if let table = try reader.table("budget") {
            try table.allowOnly([
                "daily_cost_alert_usd", "monthly_budget_usd", "fallback_hourly_usd", "fallback_daily_usd", "fallback_near_share",
                "fallback_error_overrun",
            ])
            try table.read("daily_cost_alert_usd", into: &budget.dailyCostAlertUSD)
            try table.read("monthly_budget_usd", into: &budget.monthlyBudgetUSD)
            try table.read("fallback_hourly_usd", into: &budget.fallbackHourlyUSD)
            try table.read("fallback_daily_usd", into: &budget.fallbackDailyUSD)
            try table.read("fallback_near_share", into: &budget.fallbackNearShare)
            try table.read("fallback_error_overrun", into: &budget.fallbackErrorOverrun)
        }
        if let table = try reader.table("routing") {
            try table.allowOnly([
                "phase", "context_limit_tokens", "complex_keywords", "simple_patterns", "poc_validated", "tier1_percentage", "tier2_percentage",
                "feedback_window_seconds", "outcomes_max_length", "backlog_deadline_share",
            ])
            // A phase preset first, so that explicit keys in the same table refine it.
            var phaseName = ""
            try table.read("phase", into: &phaseName)
            if !phaseName.isEmpty { try applyPhase(phaseName, key: "routing.phase") }
            try table.read("context_limit_tokens", into: &routing.contextLimitTokens)
            try table.read("complex_keywords", into: &routing.complexKeywords)
            try table.read("simple_patterns", into: &routing.simplePatterns)
            try table.read("poc_validated", into: &routing.pocValidated)
            try table.read("tier1_percentage", into: &routing.tier1Percentage)
            try table.read("tier2_percentage", into: &routing.tier2Percentage)
            try table.read("feedback_window_seconds", into: &routing.feedbackWindowSeconds)
            try table.read("outcomes_max_length", into: &routing.outcomesMaxLength)
            try table.read("backlog_deadline_share", into: &routing.backlogDeadlineShare)
        }
        if let table = try reader.table("shadow") {
            try table.allowOnly(["sample_rate", "daily_budget_usd", "max_pending", "max_task_bytes"])
            try table.read("sample_rate", into: &shadow.sampleRate)
            try table.read("daily_budget_usd", into: &shadow.dailyBudgetUSD)
            try table.read("max_pending", into: &shadow.maxPending)
            try table.read("max_task_bytes", into: &shadow.maxTaskBytes)
        }
        try applyMessageBatches(reader)
        if let table = try reader.table("calibration") {
            // `cervella calibrate --write` writes one inline table per "<tier>/<task type>" key;
            // the checks are the live table's, on the same JSON.
            routing.calibration = try CalibrationTable.parse(json: table.root.convert(to: .json))
        }
        for number in Tier.allCases {
            guard let table = try reader.table("tier\(number)") else { continue }
            var tier = self.tier(number)
            if table.has("api_key") {
                throw SettingsError(
                    key: "tier\(number).api_key",
                    "secrets never go in the configuration file; set api_key_env to the name of an environment variable, or api_key_file to a file holding the key"
                )
            }
            try table.allowOnly([
                "enabled", "kind", "model", "endpoints", "api_key_env", "api_key_file", "anthropic_version",
                "confidence_method", "logprob_aggregate", "confidence_threshold", "timeout_ms", "default_max_tokens",
                "input_usd_per_million_tokens", "output_usd_per_million_tokens", "cached_input_usd_per_million_tokens",
                "gpu_hour_usd", "requests_per_gpu_hour", "stream_mode", "early_escalation_tokens", "early_escalation_margin", "window",
            ])
            try table.read("enabled", into: &tier.enabled)
            if table.has("window") {
                guard number.isSmall else {
                    throw SettingsError(key: "tier\(number).window", "only tiers 1 and 2 have a window: Claude serves whatever they do not")
                }
                var text = ""
                try table.read("window", into: &text)
                tier.window = try TierWindow(parsing: text, key: "tier\(number).window")
            }
            try table.readEnum("kind", into: &tier.kind)
            try table.read("model", into: &tier.model)
            try table.read("endpoints", into: &tier.endpoints)
            try table.read("api_key_env", into: &tier.apiKeyEnv)
            var file: String = tier.apiKeyFile ?? ""
            try table.read("api_key_file", into: &file)
            tier.apiKeyFile = file.isEmpty ? nil : file
            try table.read("anthropic_version", into: &tier.anthropicVersion)
            try table.readEnum("confidence_method", into: &tier.confidenceMethod)
            try table.readEnum("logprob_aggregate", into: &tier.logprobAggregate)
            try table.read("confidence_threshold", into: &tier.confidenceThreshold)
            try table.readEnum("stream_mode", into: &tier.streamMode)
            try table.read("early_escalation_tokens", into: &tier.earlyEscalationTokens)
            try table.read("early_escalation_margin", into: &tier.earlyEscalationMargin)
            try table.read("timeout_ms", into: &tier.timeoutMs)
            try table.read("default_max_tokens", into: &tier.defaultMaxTokens)
            try table.read("input_usd_per_million_tokens", into: &tier.inputUSDPerMillionTokens)
            try table.read("output_usd_per_million_tokens", into: &tier.outputUSDPerMillionTokens)
            try table.read("cached_input_usd_per_million_tokens", into: &tier.cachedInputUSDPerMillionTokens)
            try table.read("gpu_hour_usd", into: &tier.gpuHourUSD)
            try table.read("requests_per_gpu_hour", into: &tier.requestsPerGPUHour)
            tiers[number] = tier
        }
    }

    /// Applies the source report's environment variables (and Cervella's own) over the file.
    public mutating func apply(environment env: [String: String]) throws(SettingsError) {
        let reader = EnvironmentReader(env: env)
        if let sentinels = reader.string("REDIS_SENTINELS") {
            for other in ["REDIS_URL", "REDIS_HOST", "REDIS_PORT"] where reader.string(other) != nil {
                throw SettingsError(
                    key: "REDIS_SENTINELS", "is set together with \(other); set one way to reach Redis (a Sentinel URL may also go in REDIS_URL)")
            }
            let credentials = reader.string("REDIS_PASSWORD").map { ":" + Self.percentEncode($0) + "@" } ?? ""
            let master = Self.percentEncode(reader.string("REDIS_SENTINEL_MASTER") ?? "mymaster")
            let query = reader.string("REDIS_SENTINEL_PASSWORD").map { "?sentinel_password=" + Self.percentEncode($0) } ?? ""
            redis.url = "redis-sentinel://\(credentials)\(sentinels.filter { !$0.isWhitespace })/0\(query)#\(master)"
        } else if let url = reader.string("REDIS_URL") {
            redis.url = url
        } else if env["REDIS_HOST"] != nil || env["REDIS_PORT"] != nil || env["REDIS_PASSWORD"] != nil {
            var host = reader.string("REDIS_HOST") ?? "127.0.0.1"
            if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }  // an IPv6 address
            let port = try reader.int("REDIS_PORT") ?? 6379
            let password = reader.string("REDIS_PASSWORD").map { ":" + (Self.percentEncode($0)) + "@" } ?? ""
            redis.url = "redis://\(password)\(host):\(port)/0"
        }
        try reader.read("CERVELLA_KEY_PREFIX", into: &redis.keyPrefix)
        try reader.read("REDIS_TTL_SECONDS", into: &cache.ttlSeconds)
        try reader.read("ENABLE_FALLBACK", into: &fallback.enabled)
        try reader.read("FALLBACK_TIMEOUT_MS", into: &fallback.timeoutMs)
        try reader.read("DEFAULT_TIER", into: &producer.defaultTier)
        if let phase = reader.string("ROLLOUT_PHASE") { try applyPhase(phase, key: "ROLLOUT_PHASE") }
        try reader.read("POC_VALIDATED", into: &routing.pocValidated)
        if let url = reader.string("CERVELLA_SCALE_WEBHOOK_URL") { scaling.webhookURL = url }
        try reader.read("DAILY_COST_ALERT_USD", into: &budget.dailyCostAlertUSD)
        try reader.read("MONTHLY_BUDGET_USD", into: &budget.monthlyBudgetUSD)
        try reader.read("CERVELLA_FALLBACK_HOURLY_USD", into: &budget.fallbackHourlyUSD)
        try reader.read("CERVELLA_FALLBACK_DAILY_USD", into: &budget.fallbackDailyUSD)
        try reader.read("TIER_1_PERCENTAGE", into: &routing.tier1Percentage)
        try reader.read("TIER_2_PERCENTAGE", into: &routing.tier2Percentage)

        let names: [Tier: (endpoint: String, model: String)] = [
            .tier1: ("QWEN3_ENDPOINT", "QWEN3_MODEL"), .tier2: ("DEEPSEEK_ENDPOINT", "DEEPSEEK_MODEL"), .tier3: ("CLAUDE_ENDPOINT", "CLAUDE_MODEL"),
        ]
        for number in Tier.allCases {
            var tier = self.tier(number)
            if let endpoints = reader.string(names[number]!.endpoint) {
                tier.endpoints = endpoints.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            try reader.read(names[number]!.model, into: &tier.model)
            try reader.read("TIER_\(number)_ENABLED", into: &tier.enabled)
            try reader.read("TIER_\(number)_CONFIDENCE_THRESHOLD", into: &tier.confidenceThreshold)
            tiers[number] = tier
        }
    }

    /// Applies one of the report's rollout phases.
    mutating func applyPhase(_ name: String, key: String) throws(SettingsError) {
        guard let phase = RoutingSettings.Phase(rawValue: name.lowercased()) else {
            throw SettingsError(
                key: key, "unknown phase '\(name)'; use one of: \(RoutingSettings.Phase.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let values = phase.values
        routing.pocValidated = values.pocValidated
        routing.tier1Percentage = values.tier1
        routing.tier2Percentage = values.tier2
        var tier2 = tier(.tier2)
        tier2.enabled = values.tier2Enabled
        tiers[.tier2] = tier2
    }

    /// Reads each tier's API key from its environment variable or key file, and the gateway's keys.
    mutating func resolveSecrets(environment env: [String: String]) throws(SettingsError) {
        var keys = (env["CERVELLA_API_KEYS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let file = gateway.apiKeysFile {
            do {
                let text = try String(contentsOfFile: file, encoding: .utf8)
                keys += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                    !$0.isEmpty && !$0.hasPrefix("#")
                }
            } catch {
                throw SettingsError(key: "gateway.api_keys_file", "cannot read '\(file)': \(error.localizedDescription)")
            }
        }
        gateway.apiKeys = keys
        if let admin = env["CERVELLA_ADMIN_KEY"], !admin.isEmpty { gateway.adminKey = admin }
        for number in Tier.allCases {
            var tier = self.tier(number)
            if let file = tier.apiKeyFile {
                do {
                    let text = try String(contentsOfFile: file, encoding: .utf8)
                    tier.apiKey = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) }
                } catch {
                    throw SettingsError(key: "tier\(number).api_key_file", "cannot read the key file '\(file)': \(error.localizedDescription)")
                }
            } else if let key = env[tier.apiKeyEnv], !key.isEmpty {
                tier.apiKey = key
            }
            tiers[number] = tier
        }
    }

    private static func percentEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }
}
