import Foundation
import Settings
import Testing

@Suite struct EnvironmentOverrideTests {
    // MARK: Redis

    @Test func redisURLReplacesTheURL() throws {
        let settings = try applying(environment: ["REDIS_URL": "redis://cache.internal:6390/3"])
        #expect(settings.redis.url == "redis://cache.internal:6390/3")
    }

    @Test func redisURLWinsOverHostAndPort() throws {
        let settings = try applying(environment: ["REDIS_URL": "redis://a:1/0", "REDIS_HOST": "b", "REDIS_PORT": "2"])
        #expect(settings.redis.url == "redis://a:1/0")
    }

    @Test func redisSentinelsBuildASentinelURLWithTheMasterAndBothPasswords() throws {
        let settings = try applying(environment: [
            "REDIS_SENTINELS": "s1:26379, s2:26380,s3", "REDIS_SENTINEL_MASTER": "pool", "REDIS_PASSWORD": "p@ss",
            "REDIS_SENTINEL_PASSWORD": "s#cret",
        ])
        #expect(settings.redis.url == "redis-sentinel://:p%40ss@s1:26379,s2:26380,s3/0?sentinel_password=s%23cret#pool")
        #expect(try applying(environment: ["REDIS_SENTINELS": "s1"]).redis.url == "redis-sentinel://s1/0#mymaster")
    }

    @Test func redisSentinelsAndRedisURLTogetherAreRefused() throws {
        let error = #expect(throws: SettingsError.self) {
            try applying(environment: ["REDIS_SENTINELS": "s1:26379", "REDIS_URL": "redis://a:1/0"])
        }
        #expect(error?.key == "REDIS_SENTINELS")
        #expect(throws: SettingsError.self) { try applying(environment: ["REDIS_SENTINELS": "s1:26379", "REDIS_HOST": "redis"]) }
        // An empty variable is no setting (compose's way to clear one).
        #expect(try applying(environment: ["REDIS_SENTINELS": "s1", "REDIS_HOST": ""]).redis.url == "redis-sentinel://s1/0#mymaster")
    }

    @Test func redisHostAndPortBuildTheURL() throws {
        let settings = try applying(environment: ["REDIS_HOST": "redis.internal", "REDIS_PORT": "6380"])
        #expect(settings.redis.url == "redis://redis.internal:6380/0")
    }

    @Test func redisHostAloneUsesTheDefaultPort() throws {
        let settings = try applying(environment: ["REDIS_HOST": "redis.internal"])
        #expect(settings.redis.url == "redis://redis.internal:6379/0")
    }

    @Test func redisPortAloneUsesTheLoopbackHost() throws {
        let settings = try applying(environment: ["REDIS_PORT": "7000"])
        #expect(settings.redis.url == "redis://127.0.0.1:7000/0")
    }

    @Test func redisPasswordIsPercentEncodedIntoTheURL() throws {
        let settings = try applying(environment: ["REDIS_HOST": "r", "REDIS_PASSWORD": "p@ss:w/rd"])
        #expect(settings.redis.url == "redis://:p%40ss%3Aw%2Frd@r:6379/0")
    }

    @Test func nonASCIIRedisPasswordIsPercentEncodedAsUTF8() throws {
        let settings = try applying(environment: ["REDIS_HOST": "r", "REDIS_PASSWORD": "pässwörd"])
        #expect(settings.redis.url == "redis://:p%C3%A4ssw%C3%B6rd@r:6379/0")
    }

    @Test func nonNumericRedisPortIsAnErrorNamingTheVariable() {
        let error = #expect(throws: SettingsError.self) { try applying(environment: ["REDIS_HOST": "r", "REDIS_PORT": "six"]) }
        #expect(error?.key == "REDIS_PORT")
        #expect(error?.message.contains("six") == true)
    }

    @Test func redisHostOverridesTheFile() throws {
        var settings = try applying("[redis]\nurl = \"redis://from-file:1/0\"")
        try settings.apply(environment: ["REDIS_HOST": "from-env"])
        #expect(settings.redis.url == "redis://from-env:6379/0")
    }

    @Test func keyPrefixComesFromCervellaKeyPrefix() throws {
        #expect(try applying(environment: ["CERVELLA_KEY_PREFIX": "ci-42"]).redis.keyPrefix == "ci-42")
    }

    @Test func redisTTLSecondsSetsTheCacheTTL() throws {
        #expect(try applying(environment: ["REDIS_TTL_SECONDS": "120"]).cache.ttlSeconds == 120)
    }

    @Test func nonNumericRedisTTLIsAnErrorNamingTheVariable() {
        let error = #expect(throws: SettingsError.self) { try applying(environment: ["REDIS_TTL_SECONDS": "1h"]) }
        #expect(error?.key == "REDIS_TTL_SECONDS")
    }

    // MARK: Endpoints and models

    @Test func qwenEndpointIsACommaSeparatedListWithSpacesTrimmed() throws {
        let settings = try applying(environment: ["QWEN3_ENDPOINT": "http://gpu-a:8000, http://gpu-b:8000 "])
        #expect(settings.tier(.tier1).endpoints == ["http://gpu-a:8000", "http://gpu-b:8000"])
    }

    @Test func singleQwenEndpointReplacesTheList() throws {
        var settings = try applying("[tier1]\nendpoints = [\"http://a:1\", \"http://b:2\"]")
        try settings.apply(environment: ["QWEN3_ENDPOINT": "http://c:3"])
        #expect(settings.tier(.tier1).endpoints == ["http://c:3"])
    }

    @Test func claudeAndDeepseekEndpointsSetTheirTiers() throws {
        let settings = try applying(environment: ["CLAUDE_ENDPOINT": "http://sim:8090", "DEEPSEEK_ENDPOINT": "http://gpu:8001"])
        #expect(settings.tier(.tier3).endpoints == ["http://sim:8090"])
        #expect(settings.tier(.tier2).endpoints == ["http://gpu:8001"])
        #expect(settings.tier(.tier1).endpoints == TierSettings.defaults(tier: .tier1).endpoints)
    }

    @Test func modelVariablesSetTheirTiers() throws {
        let settings = try applying(environment: ["QWEN3_MODEL": "Qwen/Qwen3-4B-AWQ", "DEEPSEEK_MODEL": "r1-7b", "CLAUDE_MODEL": "claude-opus-4"])
        #expect(settings.tier(.tier1).model == "Qwen/Qwen3-4B-AWQ")
        #expect(settings.tier(.tier2).model == "r1-7b")
        #expect(settings.tier(.tier3).model == "claude-opus-4")
    }

    @Test func emptyVariablesAreIgnored() throws {
        var settings = try applying("[tier1]\nendpoints = [\"http://file:1\"]\nmodel = \"file-model\"")
        try settings.apply(environment: ["QWEN3_ENDPOINT": "", "QWEN3_MODEL": "  ", "REDIS_URL": "", "FALLBACK_TIMEOUT_MS": ""])
        #expect(settings.tier(.tier1).endpoints == ["http://file:1"])
        #expect(settings.tier(.tier1).model == "file-model")
        #expect(settings.redis.url == CervellaSettings().redis.url)
        #expect(settings.fallback.timeoutMs == 10_000)
    }

    // MARK: Secrets

    @Test func claudeAPIKeyComesFromTheEnvironment() throws {
        let settings = try CervellaSettings.load(path: nil, environment: ["CLAUDE_API_KEY": "sk-ant-test"])
        #expect(settings.tier(.tier3).apiKey == "sk-ant-test")
        #expect(settings.tier(.tier1).apiKey == nil)
    }

    @Test func emptyClaudeAPIKeyMeansNoKey() throws {
        let settings = try CervellaSettings.load(path: nil, environment: ["CLAUDE_API_KEY": ""])
        #expect(settings.tier(.tier3).apiKey == nil)
    }

    @Test func qwenAPIKeyComesFromItsOwnVariable() throws {
        let settings = try CervellaSettings.load(path: nil, environment: ["QWEN3_API_KEY": "vllm-token"])
        #expect(settings.tier(.tier1).apiKey == "vllm-token")
        #expect(settings.tier(.tier3).apiKey == nil)
    }

    // MARK: Thresholds, timeouts, switches

    @Test func tierConfidenceThresholdOverridesTheFile() throws {
        var settings = try applying("[tier1]\nconfidence_threshold = 0.8")
        try settings.apply(environment: ["TIER_1_CONFIDENCE_THRESHOLD": "0.55", "TIER_2_CONFIDENCE_THRESHOLD": "0.6"])
        #expect(settings.tier(.tier1).confidenceThreshold == 0.55)
        #expect(settings.tier(.tier2).confidenceThreshold == 0.6)
        #expect(settings.tier(.tier3).confidenceThreshold == 0)
    }

    @Test func nonNumericThresholdIsAnErrorNamingTheVariable() {
        let error = #expect(throws: SettingsError.self) { try applying(environment: ["TIER_1_CONFIDENCE_THRESHOLD": "high"]) }
        #expect(error?.key == "TIER_1_CONFIDENCE_THRESHOLD")
        #expect(error?.message.contains("high") == true)
    }

    @Test func outOfRangeThresholdFailsValidationNamingKeyAndVariable() {
        let error = #expect(throws: SettingsError.self) {
            try CervellaSettings.load(path: nil, environment: ["TIER_1_CONFIDENCE_THRESHOLD": "1.5"])
        }
        #expect(error?.key.contains("tier1.confidence_threshold") == true)
        #expect(error?.key.contains("TIER_1_CONFIDENCE_THRESHOLD") == true)
    }

    @Test func fallbackTimeoutComesFromFallbackTimeoutMS() throws {
        #expect(try applying(environment: ["FALLBACK_TIMEOUT_MS": "2500"]).fallback.timeoutMs == 2500)
    }

    @Test func nonIntegerFallbackTimeoutIsAnErrorNamingTheVariable() {
        let error = #expect(throws: SettingsError.self) { try applying(environment: ["FALLBACK_TIMEOUT_MS": "2.5s"]) }
        #expect(error?.key == "FALLBACK_TIMEOUT_MS")
    }

    @Test func zeroFallbackTimeoutFailsValidationNamingTheVariable() {
        let error = #expect(throws: SettingsError.self) { try CervellaSettings.load(path: nil, environment: ["FALLBACK_TIMEOUT_MS": "0"]) }
        #expect(error?.key.contains("FALLBACK_TIMEOUT_MS") == true)
    }

    @Test(arguments: ["false", "FALSE", "0", "no", "off", "Off"])
    func enableFallbackAcceptsFalseSpellings(value: String) throws {
        #expect(try applying(environment: ["ENABLE_FALLBACK": value]).fallback.enabled == false)
    }

    @Test(arguments: ["true", "True", "1", "yes", "on"])
    func enableFallbackAcceptsTrueSpellings(value: String) throws {
        var settings = try applying("[fallback]\nenabled = false")
        try settings.apply(environment: ["ENABLE_FALLBACK": value])
        #expect(settings.fallback.enabled == true)
    }

    @Test func unrecognisedBooleanIsAnErrorNamingTheVariable() {
        let error = #expect(throws: SettingsError.self) { try applying(environment: ["ENABLE_FALLBACK": "maybe"]) }
        #expect(error?.key == "ENABLE_FALLBACK")
    }

    @Test func tierEnabledVariablesSwitchEachTier() throws {
        let settings = try applying(environment: ["TIER_1_ENABLED": "false", "TIER_2_ENABLED": "true", "TIER_3_ENABLED": "0"])
        #expect(settings.tier(.tier1).enabled == false)
        #expect(settings.tier(.tier2).enabled == true)
        #expect(settings.tier(.tier3).enabled == false)
    }

    @Test func badTierEnabledIsAnErrorNamingTheVariable() {
        let error = #expect(throws: SettingsError.self) { try applying(environment: ["TIER_2_ENABLED": "si"]) }
        #expect(error?.key == "TIER_2_ENABLED")
    }

    @Test func defaultTierComesFromDefaultTier() throws {
        #expect(try applying(environment: ["DEFAULT_TIER": "3"]).producer.defaultTier == 3)
        let error = #expect(throws: SettingsError.self) { try CervellaSettings.load(path: nil, environment: ["DEFAULT_TIER": "4"]) }
        #expect(error?.key.contains("DEFAULT_TIER") == true)
    }

    @Test func unrelatedVariablesChangeNothing() throws {
        let settings = try CervellaSettings.load(path: nil, environment: ["PATH": "/usr/bin", "HOME": "/root", "TIER_4_ENABLED": "yes"])
        #expect(settings == CervellaSettings())
    }

    @Test func environmentIsAppliedOverTheFileByLoad() throws {
        let config = try TemporaryFile(
            """
            [fallback]
            timeout_ms = 5000
            enabled = true
            [tier1]
            model = "from-file"
            enabled = true
            """)
        defer { config.remove() }
        let settings = try CervellaSettings.load(
            path: config.path,
            environment: [
                "FALLBACK_TIMEOUT_MS": "7000", "ENABLE_FALLBACK": "off", "QWEN3_MODEL": "from-env", "TIER_1_ENABLED": "no",
            ])
        #expect(settings.fallback.timeoutMs == 7000)
        #expect(settings.fallback.enabled == false)
        #expect(settings.tier(.tier1).model == "from-env")
        #expect(settings.tier(.tier1).enabled == false)
    }
}
