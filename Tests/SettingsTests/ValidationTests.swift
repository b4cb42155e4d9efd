import Foundation
import Settings
import Testing

@Suite struct ValidationTests {
    static func validationError(_ toml: String) throws -> SettingsError? {
        let settings = try applying(toml)
        return #expect(throws: SettingsError.self) { try settings.validate() }
    }

    @Test(arguments: [
        ("[redis]\nurl = \"http://127.0.0.1:6379\"", "redis.url"),
        ("[redis]\nkey_prefix = \"\"", "redis.key_prefix"),
        ("[redis]\nkey_prefix = \"my prefix\"", "redis.key_prefix"),
        ("[redis]\nreply_ttl_seconds = 0", "redis.reply_ttl_seconds"),
        ("[cache]\nttl_seconds = -1", "cache.ttl_seconds"),
        ("[budget]\nfallback_hourly_usd = -1", "budget.fallback_hourly_usd (CERVELLA_FALLBACK_HOURLY_USD)"),
        ("[budget]\nfallback_daily_usd = nan", "budget.fallback_daily_usd (CERVELLA_FALLBACK_DAILY_USD)"),
        ("[budget]\nfallback_near_share = 0", "budget.fallback_near_share"),
        ("[budget]\nfallback_error_overrun = 2", "budget.fallback_error_overrun"),
        ("[routing]\nbacklog_deadline_share = 1.5", "routing.backlog_deadline_share"),
        ("[fallback]\ntimeout_ms = 0", "fallback.timeout_ms"),
        ("[worker]\nconcurrency = 0", "worker.concurrency"),
        ("[worker]\nblock_timeout_seconds = 0", "worker.block_timeout_seconds"),
        ("[worker]\nblock_timeout_seconds = 6", "worker.block_timeout_seconds"),
        ("[worker]\nheartbeat_interval_seconds = 3.0\nheartbeat_ttl_seconds = 6", "worker.heartbeat_ttl_seconds"),
        ("[worker]\ndrain_timeout_seconds = -1", "worker.drain_timeout_seconds"),
        ("[worker]\nqueues = [\"tier1\", \"tier9\"]", "worker.queues"),
        ("[worker]\nqueues = [\"tier1\", \"quarantine\"]", "worker.queues"),
        ("[worker]\nprobation_processes = 0", "worker.probation_processes"),
        ("[worker]\ndead_letter_max_length = 0", "worker.dead_letter_max_length"),
        ("[worker]\ndead_letter_payload_bytes = 10", "worker.dead_letter_payload_bytes"),
        ("[worker]\ndrain_timeout_seconds = 1e300", "worker.drain_timeout_seconds"),
        ("[worker]\nreaper_interval_seconds = nan", "worker.reaper_interval_seconds"),
        ("[worker]\nauto_rollback_down_seconds = -1", "worker.auto_rollback_down_seconds"),
        ("[worker]\nauto_rollback_down_seconds = nan", "worker.auto_rollback_down_seconds"),
        ("[worker]\nauto_rollback_up_seconds = 0", "worker.auto_rollback_up_seconds"),
        ("[scaling]\np95_threshold_ms = 0", "scaling.p95_threshold_ms"),
        ("[scaling]\nwindow_seconds = 5", "scaling.window_seconds"),
        ("[scaling]\nwindow_seconds = 99999999999", "scaling.window_seconds"),
        ("[scaling]\nwebhook_interval_seconds = nan", "scaling.webhook_interval_seconds"),
        ("[scaling]\nwebhook_url = \"ftp://hooks.example/x\"", "scaling.webhook_url"),
        ("[scaling]\nwebhook_url = \"not a url\"", "scaling.webhook_url"),
        ("[worker]\nauto_rollback_up_seconds = 1e300", "worker.auto_rollback_up_seconds"),
        ("[producer]\njob_timeout_seconds = 1e300", "producer.job_timeout_seconds"),
        ("[producer]\ndefault_tier = 0", "producer.default_tier"),
        ("[producer]\ndefault_tier = 4", "producer.default_tier"),
        ("[producer]\njob_timeout_seconds = 0", "producer.job_timeout_seconds"),
        ("[tier1]\nmodel = \"\"", "tier1.model"),
        ("[tier2]\nendpoints = []", "tier2.endpoints"),
        ("[tier1]\nendpoints = [\"gpu-host:8000\"]", "tier1.endpoints"),
        ("[tier1]\nendpoints = [\"ftp://gpu-host\"]", "tier1.endpoints"),
        ("[tier3]\nendpoints = [\"https://\"]", "tier3.endpoints"),
        ("[tier1]\nconfidence_threshold = 1.01", "tier1.confidence_threshold"),
        ("[tier2]\nconfidence_threshold = -0.1", "tier2.confidence_threshold"),
        ("[tier1]\nearly_escalation_tokens = -1", "tier1.early_escalation_tokens"),
        ("[tier1]\nearly_escalation_margin = 1.5", "tier1.early_escalation_margin"),
        ("[tier3]\ntimeout_ms = 0", "tier3.timeout_ms"),
        ("[tier1]\ndefault_max_tokens = 0", "tier1.default_max_tokens"),
    ])
    func outOfRangeValueIsAnErrorNamingTheKey(toml: String, key: String) throws {
        let error = try Self.validationError(toml)
        #expect(error?.key.hasPrefix(key) == true, "got key \(error?.key ?? "nil")")
    }

    @Test(arguments: [
        "[tier1]\nconfidence_threshold = 0.0",
        "[tier1]\nconfidence_threshold = 1.0",
        "[worker]\nblock_timeout_seconds = 5.0",
        "[worker]\ndrain_timeout_seconds = 0.0",
        "[worker]\nheartbeat_interval_seconds = 3.0\nheartbeat_ttl_seconds = 7",
        "[worker]\nqueues = [\"fallback\"]",
        "[tier1]\nendpoints = [\"https://gpu.example.com/v1\", \"http://10.0.0.2:8000\"]",
    ])
    func boundaryValuesAreAccepted(toml: String) throws {
        try applying(toml).validate()
    }

    /// A zero interval is the interval's fault, but the check that catches it is the TTL's.
    @Test func zeroHeartbeatIntervalIsAnErrorNamingTheInterval() throws {
        let error = try Self.validationError("[worker]\nheartbeat_interval_seconds = 0")
        #expect(error != nil)
        #expect(error?.key == "worker.heartbeat_interval_seconds")
    }

    @Test func unknownQueueIsNamedInTheMessage() throws {
        let error = try Self.validationError("[worker]\nqueues = [\"tier1\", \"tier9\"]")
        #expect(error?.message.contains("tier9") == true)
    }

    @Test func badEndpointIsNamedInTheMessage() throws {
        let error = try Self.validationError("[tier1]\nendpoints = [\"http://ok:1\", \"gpu-host:8000\"]")
        #expect(error?.message.contains("gpu-host:8000") == true)
    }

    @Test func redisURLPasswordIsRedactedFromTheError() throws {
        let error = try Self.validationError("[redis]\nurl = \"rediss://:hunter2@cache.example.com:6380/0\"")
        #expect(error?.key == "redis.url")
        #expect(error?.message.contains("hunter2") == false)
        #expect(error?.message.contains("cache.example.com") == true)
    }

    @Test func loadValidatesAfterTheEnvironmentIsApplied() throws {
        let config = try TemporaryFile("[tier1]\nconfidence_threshold = 2.0\n")
        defer { config.remove() }
        // The file alone is invalid; the environment repairs it before validation.
        let settings = try CervellaSettings.load(path: config.path, environment: ["TIER_1_CONFIDENCE_THRESHOLD": "0.6"])
        #expect(settings.tier(.tier1).confidenceThreshold == 0.6)
    }

    @Test func errorDescriptionNamesTheKey() {
        let error = SettingsError(key: "tier1.model", "must not be empty")
        #expect(String(describing: error) == "configuration error at 'tier1.model': must not be empty")
    }
}

@Suite struct TierCostTests {
    @Test func claudeIsPricedPerToken() {
        let claude = TierSettings.defaults(tier: .tier3)
        // 1000 input tokens at $3/M plus 500 output tokens at $15/M.
        #expect(abs(claude.costUSD(inputTokens: 1000, outputTokens: 500) - 0.0105) < 1e-12)
    }

    @Test func selfHostedTierIsPricedAsAnAmortisedGPUHour() {
        let qwen = TierSettings.defaults(tier: .tier1)
        // $0.35 per GPU hour over 1200 requests, whatever the tokens.
        #expect(abs(qwen.costUSD(inputTokens: 75, outputTokens: 210) - 0.35 / 1200) < 1e-12)
        #expect(qwen.costUSD(inputTokens: 0, outputTokens: 0) == qwen.costUSD(inputTokens: 10_000, outputTokens: 10_000))
    }

    @Test func zeroRequestsPerGPUHourDoesNotDivideByZero() {
        var tier = TierSettings.defaults(tier: .tier1)
        tier.requestsPerGPUHour = 0
        #expect(tier.costUSD(inputTokens: 10, outputTokens: 10) == 0)
    }

    @Test func defaultTiersFollowTheReport() {
        #expect(TierSettings.defaults(tier: .tier1).enabled)
        #expect(!TierSettings.defaults(tier: .tier2).enabled, "tier 2 is optional and off by default")
        #expect(TierSettings.defaults(tier: .tier3).enabled)
        #expect(TierSettings.defaults(tier: .tier1).confidenceThreshold == 0.70)
        #expect(TierSettings.defaults(tier: .tier3).kind == .anthropic)
        #expect(TierSettings.defaults(tier: .tier3).apiKeyEnv == "CLAUDE_API_KEY")
        #expect(CervellaSettings().fallback.timeoutMs == 10_000)
    }
}
