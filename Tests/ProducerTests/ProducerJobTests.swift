import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Routing
import Settings
import Testing

@testable import Producer

/// How a request becomes a job, what goes to the enqueue script, and what its answers mean;
/// no Redis (the connection points where nothing listens and is never used).
@Suite struct ProducerJobTests {
    /// Settings whose Redis address nothing listens on.
    static func settings(_ configure: (inout CervellaSettings) -> Void = { _ in }) -> CervellaSettings {
        var settings = CervellaSettings()
        settings.redis.url = "redis://127.0.0.1:1/0"
        settings.redis.keyPrefix = "t"
        configure(&settings)
        return settings
    }

    static func withProducer(
        _ settings: CervellaSettings = settings(), flags: LiveFlags? = nil, _ body: (Producer) throws -> Void
    ) throws {
        let connection = RedisConnection(configuration: try RedisConfiguration(url: settings.redis.url))
        defer { connection.close() }
        var live: (@Sendable () -> LiveFlags)?
        if let flags { live = { flags } }
        let producer = Producer(settings: settings, connection: connection, flags: live)
        defer { producer.close() }
        try body(producer)
    }

    static let hello = [ChatMessage(role: "user", content: "hello")]

    @Test func aJobRepliesToItsOwnListBeforeItsDeadline() throws {
        try Self.withProducer { (producer) throws in
            let before = Date().timeIntervalSince1970
            let job = try producer.makeJob(
                messages: Self.hello, params: GenerationParameters(maxTokens: 9), tierHint: "simple", timeoutSeconds: 30,
                metadata: ["k": .string("v")])
            #expect(job.replyTo == "t:reply:\(job.id)")
            #expect(job.createdAt >= before && job.createdAt <= Date().timeIntervalSince1970)
            #expect(job.deadlineAt == job.createdAt + 30)
            #expect(job.messages == Self.hello)
            #expect(job.params.maxTokens == 9)
            #expect(job.metadata == ["k": .string("v")])
            #expect(job.attempt == 0)
            #expect(job.cache)
            #expect(!job.cacheChecked)
        }
    }

    @Test func withoutATimeoutTheProducersJobTimeoutApplies() throws {
        try Self.withProducer(Self.settings { $0.producer.jobTimeoutSeconds = 12 }) { (producer) throws in
            let job = try producer.makeJob(messages: Self.hello)
            #expect(job.deadlineAt == job.createdAt + 12)
        }
    }

    @Test func theCacheIsUsedOnlyWhenBothTheRequestAndTheSettingsAllowIt() throws {
        try Self.withProducer { (producer) throws in
            #expect(try producer.makeJob(messages: Self.hello, cache: false).cache == false)
        }
        try Self.withProducer(Self.settings { $0.cache.enabled = false }) { (producer) throws in
            #expect(try producer.makeJob(messages: Self.hello, cache: true).cache == false)
        }
    }

    @Test func hintsAndForcedModelsDecideTheRoute() throws {
        try Self.withProducer { (producer) throws in
            #expect(
                try producer.makeJob(messages: Self.hello, tierHint: "complex").route
                    == Route(tier: 3, model: "claude-sonnet-4-5", reason: "tier_hint_complex"))
            #expect(
                try producer.makeJob(messages: Self.hello, forceModel: "qwen3-4b").route
                    == Route(tier: 1, model: "qwen3-4b", reason: "manual_override"))
            let given = Route(tier: 2, model: "m", reason: "r")
            #expect(try producer.makeJob(messages: Self.hello, forceModel: "nonsense", route: given).route == given)
            #expect(throws: Router.UnknownModel.self) { try producer.makeJob(messages: Self.hello, forceModel: "gpt-17") }
        }
    }

    @Test func aTierSwitchedOffLiveIsSkipped() throws {
        var base = CervellaSettings()
        base.tiers[.tier2]?.enabled = true
        var flags = LiveFlags(settings: base)
        flags.tierEnabled[.tier1] = false
        try Self.withProducer(Self.settings { $0.tiers[.tier2]?.enabled = true }, flags: flags) { (producer) throws in
            let route = try producer.makeJob(messages: Self.hello, tierHint: "simple").route
            #expect(route?.tier == 2)
            #expect(route?.reason == "tier_hint_simple_tier1_disabled")
        }
    }

    @Test func jobIDsAreUniqueAndSortByTime() throws {
        let ids = (0..<1000).map { _ in Producer.newJobID() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { !$0.contains(":") && $0.split(separator: "-").count == 2 })
        let millis = ids.map { Int($0.split(separator: "-")[0], radix: 36) ?? -1 }
        #expect(millis == millis.sorted())
        #expect(abs(Double(millis[0]) / 1000 - Date().timeIntervalSince1970) < 60)
    }

    static func job(tier: Int, cache: Bool) -> Job {
        Job(
            id: "j1", replyTo: "t:reply:j1", createdAt: 1_767_225_600, deadlineAt: 1_767_225_630, messages: hello, cache: cache,
            route: Route(tier: tier, model: "m", reason: "r")
        )
    }

    @Test func theEnqueueScriptGetsTheTiersQueueTheCacheKeyAndTheMarkedJob() throws {
        let keys = KeySpace(prefix: "t")
        let job = Self.job(tier: 2, cache: true)
        let call = try Producer.enqueueCall(for: job, keys: keys, maxQueueLength: 50)
        #expect(
            call.keys.map { String(decoding: $0.bytes, as: UTF8.self) }.prefix(3) == ["t:queue:tier2", keys.cache(CacheKey.digest(for: job)), ""])
        #expect(call.job.cacheChecked)
        let pushed = try JSONDecoder().decode(Job.self, from: Data(call.arguments[0].bytes))
        #expect(pushed == call.job)
        #expect(String(decoding: call.arguments[1].bytes, as: UTF8.self) == "50")
    }

    /// With single-flight the script also gets the flight key and the job as a follower.
    @Test func aSingleFlightJobSendsItsFlightKeyAndFollowerEntry() throws {
        let keys = KeySpace(prefix: "t")
        let job = Self.job(tier: 1, cache: true)
        let call = try Producer.enqueueCall(for: job, keys: keys, maxQueueLength: 0, singleFlight: true, now: 1_767_225_600)
        #expect(String(decoding: call.keys[2].bytes, as: UTF8.self) == keys.flight(CacheKey.digest(for: job)))
        let entry = try JSONSerialization.jsonObject(with: Data(call.arguments[3].bytes)) as? [String: Any]
        #expect(entry?["id"] as? String == "j1" && entry?["reply"] as? String == "t:reply:j1" && entry?["queue"] as? String == "t:queue:tier1")
        #expect(try JSONDecoder().decode(Job.self, from: Data(((entry?["job"] as? String) ?? "").utf8)) == call.job)
        // The flight lives until the job's deadline and a little.
        #expect(String(decoding: call.arguments[4].bytes, as: UTF8.self) == "35")
        // A cache hit is counted in the hour's statistics, at Claude's prices.
        #expect(String(decoding: call.keys[3].bytes, as: UTF8.self) == "t:stats:2026010100")
        #expect(call.arguments[6...8].map { String(decoding: $0.bytes, as: UTF8.self) } == ["3.0", "15.0", "3024000"])
    }

    @Test func aJobWithoutCacheSendsNoCacheKeyAndIsNotMarked() throws {
        let call = try Producer.enqueueCall(for: Self.job(tier: 1, cache: false), keys: KeySpace(prefix: "t"), maxQueueLength: 0)
        #expect(call.keys.map { String(decoding: $0.bytes, as: UTF8.self) }.prefix(3) == ["t:queue:tier1", "", ""])
        #expect(!call.job.cacheChecked)
    }

    @Test func aRouteWithoutAQueueIsRefused() {
        #expect(throws: RedisError.self) { try Producer.enqueueCall(for: Self.job(tier: 7, cache: false), keys: KeySpace(), maxQueueLength: 0) }
    }

    @Test func theScriptsAnswerIsQueuedFullOrACacheHit() throws {
        let job = Self.job(tier: 1, cache: true)
        #expect(Producer.enqueued(.null, job: job) == .queued)
        #expect(Producer.enqueued(.integer(0), job: job) == .full)
        let metadata = ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 500, queueMs: 4, confidence: 0.9, costUSD: 0.01, tokensInput: 1, tokensOutput: 2,
            tierDecisionReason: "r", worker: "w1", timestamp: "2026-01-01T00:00:00Z"
        )
        let cached = JobResult.success(id: "an-earlier-job", response: "answer", metadata: metadata)
        guard case .cached(let result) = Producer.enqueued(.bulk(cached.jsonBytes()), job: job) else {
            Issue.record("a cached result was not read as a cache hit")
            return
        }
        #expect(result.id == "j1")
        #expect(result.response == "answer")
        #expect(result.metadata?.cacheHit == true)
        #expect(result.metadata?.costUSD == 0)
        #expect(result.metadata?.worker == "producer")
    }

    @Test func aPopWithoutAnElementIsADeadlineNamingTheQueue() {
        let job = Self.job(tier: 2, cache: false)
        let timedOut = Producer.result(ofPop: .null, job: job, waitedSeconds: 31.7)
        #expect(timedOut.id == "j1")
        #expect(timedOut.error?.code == "deadline_exceeded")
        #expect(timedOut.error?.message.contains("no result within 31 s") == true)
        #expect(timedOut.error?.message.contains("queue 'tier2'") == true)

        let garbage = Producer.result(ofPop: .array([.bulk(Array("t:reply:j1".utf8)), .bulk(Array("not json".utf8))]), job: job, waitedSeconds: 1)
        #expect(garbage.error?.code == "bad_result")

        let answer = JobResult.failure(id: "j1", code: "error_http_5xx", message: "m")
        #expect(Producer.result(ofPop: .array([.bulk(Array("t:reply:j1".utf8)), .bulk(answer.jsonBytes())]), job: job, waitedSeconds: 1) == answer)
    }
}
