import Foundation
import JobProtocol
import Settings
import Testing

@Suite struct WorkerTOMLTests {
    @Test func repositoryWorkerTOMLLoadsAndValidates() throws {
        #expect(FileManager.default.fileExists(atPath: repositoryWorkerTOML))
        let settings = try CervellaSettings.load(path: repositoryWorkerTOML, environment: [:])
        #expect(settings.redis.url == "redis://127.0.0.1:6379/0")
        #expect(settings.tier(.tier1).kind == .openai)
        #expect(settings.tier(.tier1).endpoints == ["http://127.0.0.1:8090"])
        #expect(settings.tier(.tier2).enabled == false)
        #expect(settings.tier(.tier3).kind == .anthropic)
        #expect(settings.tier(.tier3).confidenceMethod == .none)
        #expect(settings.tier(.tier3).apiKey == nil, "no secret may come from the committed file")
    }

    /// The file says "every key is shown with its default, except the endpoints": so the file,
    /// with the endpoints put back, must equal the built-in defaults.
    @Test func repositoryWorkerTOMLShowsTheBuiltInDefaultsExceptTheEndpoints() throws {
        var settings = try CervellaSettings.load(path: repositoryWorkerTOML, environment: [:])
        for number in Tier.allCases {
            settings.tiers[number]?.endpoints = TierSettings.defaults(tier: number).endpoints
        }
        #expect(settings == CervellaSettings())
    }

    /// The file writes its values out rather than leaning on the built-in defaults: applied over
    /// settings that differ everywhere, it brings every one of them back.
    @Test func repositoryWorkerTOMLSetsEveryValueExplicitly() throws {
        var changed = CervellaSettings()
        changed.redis.url = "redis://elsewhere:1/2"
        changed.redis.keyPrefix = "other"
        changed.redis.replyTTLSeconds = 1
        changed.cache.enabled = false
        changed.cache.ttlSeconds = 1
        changed.fallback.enabled = false
        changed.fallback.timeoutMs = 1
        changed.worker.queues = ["tier3"]
        changed.worker.concurrency = 1
        changed.worker.blockTimeoutSeconds = 1
        changed.worker.heartbeatIntervalSeconds = 1
        changed.worker.heartbeatTTLSeconds = 1
        changed.worker.drainTimeoutSeconds = 1
        changed.producer.defaultTier = 3
        changed.producer.jobTimeoutSeconds = 1
        changed.scaling.p95ThresholdMs = 1
        changed.scaling.windowSeconds = 1
        changed.scaling.webhookURL = "http://elsewhere/hook"
        changed.scaling.webhookIntervalSeconds = 1
        changed.messageBatches.enabled = true
        changed.messageBatches.horizonSeconds = 1
        changed.messageBatches.maxBatchSize = 1
        changed.messageBatches.collectSeconds = 1
        changed.messageBatches.pollIntervalSeconds = 1
        changed.messageBatches.rescueSeconds = 1
        for number in Tier.allCases {
            var tier = changed.tier(number)
            tier.enabled.toggle()
            tier.kind = tier.kind == .openai ? .anthropic : .openai
            tier.model = "m"
            tier.apiKeyEnv = "E"
            tier.confidenceMethod = .logprobs
            tier.confidenceThreshold = 0.5
            tier.timeoutMs = 1
            tier.defaultMaxTokens = 1
            tier.inputUSDPerMillionTokens = 99
            tier.outputUSDPerMillionTokens = 99
            tier.gpuHourUSD = 99
            tier.requestsPerGPUHour = 99
            changed.tiers[number] = tier
        }
        try changed.apply(toml: try String(contentsOfFile: repositoryWorkerTOML, encoding: .utf8))
        for number in Tier.allCases {
            changed.tiers[number]?.endpoints = TierSettings.defaults(tier: number).endpoints
        }
        #expect(changed == CervellaSettings())
    }

    @Test func environmentOverridesTheRepositoryFile() throws {
        let settings = try CervellaSettings.load(
            path: repositoryWorkerTOML,
            environment: [
                "QWEN3_ENDPOINT": "http://gpu-a:8000,http://gpu-b:8000", "CLAUDE_API_KEY": "sk-test",
            ])
        #expect(settings.tier(.tier1).endpoints == ["http://gpu-a:8000", "http://gpu-b:8000"])
        #expect(settings.tier(.tier3).apiKey == "sk-test")
    }

    @Test func missingFileIsAnErrorNamingThePath() {
        let path = "/nonexistent/cervella-\(UUID().uuidString)/worker.toml"
        let error = #expect(throws: SettingsError.self) { try CervellaSettings.load(path: path, environment: [:]) }
        #expect(error?.key == path)
    }

    @Test func noFileAndNoEnvironmentGiveTheDefaults() throws {
        #expect(try CervellaSettings.load(path: nil, environment: [:]) == CervellaSettings())
    }

    @Test func defaultsValidate() throws {
        try CervellaSettings().validate()
    }
}
