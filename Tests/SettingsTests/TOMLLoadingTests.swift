import Foundation
import Settings
import Testing

@Suite struct TOMLLoadingTests {
    @Test func partialFileChangesOnlyWhatItNames() throws {
        let settings = try applying(
            """
            [cache]
            ttl_seconds = 60
            """)
        var expected = CervellaSettings()
        expected.cache.ttlSeconds = 60
        #expect(settings == expected)
    }

    @Test func everyTableIsRead() throws {
        let settings = try applying(
            """
            [redis]
            url = "redis://redis.internal:6380/2"
            key_prefix = "staging"
            reply_ttl_seconds = 120

            [cache]
            enabled = false
            ttl_seconds = 90

            [fallback]
            enabled = false
            timeout_ms = 2500

            [worker]
            queues = ["tier1"]
            concurrency = 8
            block_timeout_seconds = 1.5
            heartbeat_interval_seconds = 2.0
            heartbeat_ttl_seconds = 9
            drain_timeout_seconds = 5.0
            probation_processes = 4
            dead_letter_max_length = 500
            dead_letter_payload_bytes = 4096

            [producer]
            default_tier = 3
            job_timeout_seconds = 30.0

            [tier2]
            enabled = true
            kind = "openai"
            model = "deepseek-r1-distill-qwen-7b"
            endpoints = ["http://gpu-a:8001", "http://gpu-b:8001"]
            api_key_env = "R1_KEY"
            confidence_method = "heuristic"
            confidence_threshold = 0.65
            timeout_ms = 8000
            default_max_tokens = 4000
            input_usd_per_million_tokens = 0.1
            output_usd_per_million_tokens = 0.2
            gpu_hour_usd = 0.6
            requests_per_gpu_hour = 500.0

            [tier3]
            anthropic_version = "2024-01-01"
            """)
        #expect(settings.redis.url == "redis://redis.internal:6380/2")
        #expect(settings.redis.keyPrefix == "staging")
        #expect(settings.redis.replyTTLSeconds == 120)
        #expect(settings.cache.enabled == false)
        #expect(settings.cache.ttlSeconds == 90)
        #expect(settings.fallback.enabled == false)
        #expect(settings.fallback.timeoutMs == 2500)
        #expect(settings.worker.queues == ["tier1"])
        #expect(settings.worker.concurrency == 8)
        #expect(settings.worker.blockTimeoutSeconds == 1.5)
        #expect(settings.worker.heartbeatIntervalSeconds == 2.0)
        #expect(settings.worker.heartbeatTTLSeconds == 9)
        #expect(settings.worker.drainTimeoutSeconds == 5.0)
        #expect(settings.worker.probationProcesses == 4)
        #expect(settings.worker.deadLetterMaxLength == 500)
        #expect(settings.worker.deadLetterPayloadBytes == 4096)
        #expect(settings.producer.defaultTier == 3)
        #expect(settings.producer.jobTimeoutSeconds == 30.0)
        let tier2 = settings.tier(.tier2)
        #expect(tier2.enabled)
        #expect(tier2.model == "deepseek-r1-distill-qwen-7b")
        #expect(tier2.endpoints == ["http://gpu-a:8001", "http://gpu-b:8001"])
        #expect(tier2.apiKeyEnv == "R1_KEY")
        #expect(tier2.confidenceMethod == .heuristic)
        #expect(tier2.confidenceThreshold == 0.65)
        #expect(tier2.timeoutMs == 8000)
        #expect(tier2.defaultMaxTokens == 4000)
        #expect(tier2.inputUSDPerMillionTokens == 0.1)
        #expect(tier2.outputUSDPerMillionTokens == 0.2)
        #expect(tier2.gpuHourUSD == 0.6)
        #expect(tier2.requestsPerGPUHour == 500)
        #expect(settings.tier(.tier3).anthropicVersion == "2024-01-01")
        #expect(settings.tier(.tier1) == TierSettings.defaults(tier: .tier1), "tables not in the file keep their defaults")
        try settings.validate()
    }

    @Test func integerIsAcceptedWhereANumberIsExpected() throws {
        let settings = try applying(
            """
            [tier1]
            confidence_threshold = 1
            requests_per_gpu_hour = 1000
            [worker]
            block_timeout_seconds = 3
            """)
        #expect(settings.tier(.tier1).confidenceThreshold == 1.0)
        #expect(settings.tier(.tier1).requestsPerGPUHour == 1000)
        #expect(settings.worker.blockTimeoutSeconds == 3.0)
    }

    @Test func laterApplicationsOverrideEarlierOnes() throws {
        var settings = try applying("[tier1]\nmodel = \"a\"\nconfidence_threshold = 0.8")
        try settings.apply(toml: "[tier1]\nmodel = \"b\"")
        #expect(settings.tier(.tier1).model == "b")
        #expect(settings.tier(.tier1).confidenceThreshold == 0.8)
    }

    // MARK: Type errors name the key

    @Test(arguments: [
        ("[cache]\nttl_seconds = \"60\"", "cache.ttl_seconds", "integer"),
        ("[cache]\nenabled = \"yes\"", "cache.enabled", "true or false"),
        ("[fallback]\ntimeout_ms = 2.5", "fallback.timeout_ms", "integer"),
        ("[redis]\nurl = 6379", "redis.url", "string"),
        ("[worker]\nqueues = \"tier1\"", "worker.queues", "array of strings"),
        ("[worker]\nqueues = [\"tier1\", 2]", "worker.queues", "array of strings"),
        ("[worker]\nblock_timeout_seconds = \"2\"", "worker.block_timeout_seconds", "number"),
        ("[tier1]\nconfidence_threshold = \"high\"", "tier1.confidence_threshold", "number"),
        ("[tier1]\nendpoints = \"http://gpu:8000\"", "tier1.endpoints", "array of strings"),
        ("[tier2]\nenabled = 1", "tier2.enabled", "true or false"),
        ("[tier3]\ntimeout_ms = 1.5", "tier3.timeout_ms", "integer"),
        ("[tier3]\nkind = 3", "tier3.kind", "string"),
        ("redis = 5", "redis", "table"),
        ("tier1 = \"qwen\"", "tier1", "table"),
    ])
    func wrongTypeIsAnErrorNamingTheKey(toml: String, key: String, expectation: String) {
        let error = #expect(throws: SettingsError.self) { try applying(toml) }
        #expect(error?.key == key)
        #expect(error?.message.contains(expectation) == true, "\(error?.message ?? "")")
    }

    @Test func unknownEnumValueListsTheAllowedOnes() {
        let kind = #expect(throws: SettingsError.self) { try applying("[tier1]\nkind = \"grpc\"") }
        #expect(kind?.key == "tier1.kind")
        #expect(kind?.message.contains("grpc") == true)
        #expect(kind?.message.contains("openai") == true)
        #expect(kind?.message.contains("anthropic") == true)

        let method = #expect(throws: SettingsError.self) { try applying("[tier2]\nconfidence_method = \"magic\"") }
        #expect(method?.key == "tier2.confidence_method")
        #expect(method?.message.contains("heuristic") == true)
    }

    // MARK: Unknown keys

    @Test(arguments: [
        ("[tier1]\nconfidence_treshold = 0.5", "tier1.confidence_treshold"),
        ("[redis]\nhost = \"x\"", "redis.host"),
        ("[tier4]\nmodel = \"x\"", "tier4"),
        ("debug = true", "debug"),
        ("[worker]\nqueue = [\"tier1\"]", "worker.queue"),
        ("[cache]\nttl = 5", "cache.ttl"),
    ])
    func unknownKeyIsAnErrorNamingIt(toml: String, key: String) {
        let error = #expect(throws: SettingsError.self) { try applying(toml) }
        #expect(error?.key == key)
        #expect(error?.message.contains("unknown key") == true)
    }

    @Test func unknownKeyErrorListsTheKnownKeys() {
        let error = #expect(throws: SettingsError.self) { try applying("[fallback]\nenable = true") }
        #expect(error?.message.contains("enabled") == true)
        #expect(error?.message.contains("timeout_ms") == true)
    }

    // MARK: Secrets

    @Test(arguments: [1, 2, 3])
    func apiKeyInTheFileIsRefusedWithoutEchoingIt(tier: Int) {
        let error = #expect(throws: SettingsError.self) { try applying("[tier\(tier)]\napi_key = \"sk-ant-SECRET123\"") }
        #expect(error?.key == "tier\(tier).api_key")
        // Not the generic unknown-key error: the message says where the key belongs instead.
        #expect(error?.message.contains("unknown key") == false)
        #expect(error?.message.contains("secret") == true)
        #expect(error?.message.contains("api_key_env") == true)
        #expect(error?.message.contains("api_key_file") == true)
        #expect(error.map { !String(describing: $0).contains("SECRET123") } == true)
    }

    @Test func apiKeyFileIsRead() throws {
        let keyFile = try TemporaryFile("sk-from-file\n", name: "claude.key")
        defer { keyFile.remove() }
        let config = try TemporaryFile("[tier3]\napi_key_file = \"\(keyFile.path)\"\n", name: "worker.toml")
        defer { config.remove() }
        let settings = try CervellaSettings.load(path: config.path, environment: ["CLAUDE_API_KEY": "sk-from-env"])
        #expect(settings.tier(.tier3).apiKeyFile == keyFile.path)
        #expect(settings.tier(.tier3).apiKey == "sk-from-file")
    }

    @Test func apiKeyFileKeepsOnlyTheFirstLineTrimmed() throws {
        let keyFile = try TemporaryFile("  sk-first  \nsecond line\n")
        defer { keyFile.remove() }
        let config = try TemporaryFile("[tier1]\napi_key_file = \"\(keyFile.path)\"\n")
        defer { config.remove() }
        let loaded = try CervellaSettings.load(path: config.path, environment: [:])
        #expect(loaded.tier(.tier1).apiKey == "sk-first")
    }

    @Test func unreadableAPIKeyFileIsAnErrorNamingTheKey() throws {
        let config = try TemporaryFile("[tier3]\napi_key_file = \"/nonexistent/\(UUID().uuidString)\"\n")
        defer { config.remove() }
        let error = #expect(throws: SettingsError.self) { try CervellaSettings.load(path: config.path, environment: [:]) }
        #expect(error?.key == "tier3.api_key_file")
    }

    @Test func emptyAPIKeyFileMeansNoFile() throws {
        let settings = try applying("[tier3]\napi_key_file = \"\"")
        #expect(settings.tier(.tier3).apiKeyFile == nil)
    }

    @Test func apiKeyEnvNamesTheVariableThatHoldsTheKey() throws {
        let config = try TemporaryFile("[tier3]\napi_key_env = \"MY_CLAUDE_KEY\"\n")
        defer { config.remove() }
        let settings = try CervellaSettings.load(path: config.path, environment: ["MY_CLAUDE_KEY": "sk-mine", "CLAUDE_API_KEY": "sk-other"])
        #expect(settings.tier(.tier3).apiKey == "sk-mine")
    }

    // MARK: Syntax

    @Test func syntaxErrorNamesTheSourceAndTheLine() {
        var settings = CervellaSettings()
        let error = #expect(throws: SettingsError.self) { try settings.apply(toml: "[redis]\nurl = \"redis://x\n", source: "custom.toml") }
        #expect(error?.key == "custom.toml")
        #expect(error?.message.contains("line 2") == true, "\(error?.message ?? "")")
    }

    @Test func syntaxErrorInALoadedFileNamesItsPath() throws {
        let config = try TemporaryFile("[tier1\nmodel = \"x\"\n")
        defer { config.remove() }
        let error = #expect(throws: SettingsError.self) { try CervellaSettings.load(path: config.path, environment: [:]) }
        #expect(error?.key == config.path)
    }
}
