import CervellaTestSupport
import ControlPlane
import CurlHTTP
import Foundation
import JobProtocol
import Logging
import Providers
import RedisClient
import Scoring
import Settings
import Testing

@testable import WorkerPool

/// Shadow labels from live traffic: sampled small-model answers are answered and judged by
/// Claude off the request path, when tier 1 is idle, under a daily budget.
@Suite(.timeLimit(.minutes(3))) struct ShadowTests {
    @Test func sampledAnswersBecomeJudgedOutcomesAfterTheirRepliesWentOut() async throws {
        try await withTestPool(configure: { $0.shadow.sampleRate = 1 }) { pool in
            let good = try await pool.ask("Formatta questa lista in markdown: uno, due, tre, quattro, cinque.", cache: false)
            let bad = try await pool.ask("Formatta questa lista in markdown: sei, sette, otto, nove.\n#sim judge_score=2", cache: false)
            #expect(good.metadata?.tier == 1 && bad.metadata?.tier == 1 && bad.metadata?.fallback == false)
            var outcomes: [LabelledOutcome] = []
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    outcomes = try await OutcomeStream.read(connection: pool.redis, keys: pool.keys, limit: 10).outcomes
                    return outcomes.count == 2
                })
            let byID = Dictionary(uniqueKeysWithValues: outcomes.map { ($0.id, $0) })
            let judgedGood = try #require(byID[good.id])
            let judgedBad = try #require(byID[bad.id])
            #expect(judgedGood.source == .shadow && judgedGood.good && (judgedGood.score ?? 0) >= 4)
            #expect(judgedBad.good == false && judgedBad.score == 2)
            // Claude's own answer was judged too, and what it cost is known.
            #expect(judgedGood.claudeScore != nil && (judgedGood.claudeCostUSD ?? 0) > 0)
            #expect(judgedGood.taskType == "simple_task_pattern_matched" && judgedGood.features.probabilities != nil)
            #expect(judgedGood.confidence == good.metadata?.confidence)
            let spend = try await pool.redis.send("GET", RedisArgument(pool.keys.shadowSpend(day: ShadowRunner.day(Date())))).string
            #expect((spend.flatMap(Double.init) ?? 0) > 0)
        }
    }

    /// A pass takes a task only when both tier-1 lanes are empty and the day's spend is under
    /// the budget.
    @Test func aPassWaitsForAnIdleTierOneAndStopsAtTheBudget() async throws {
        try await withTestPool(configure: { $0.shadow.sampleRate = 1 }, workers: 0) { pool in
            var settings = pool.settings
            settings.shadow.dailyBudgetUSD = 0.000_001
            let http = try HTTPClient(configuration: .init())
            defer { http.shutdown() }
            let claude = ProviderFactory.make(settings.tier(.claude), http: http)
            let runner = ShadowRunner(connection: pool.redis, keys: pool.keys, settings: settings, claude: claude, logger: Logger(label: "test"))
            let outcome = LabelledOutcome(
                id: "s1", source: .shadow, at: 0, tier: 1, model: "qwen3-4b", taskType: "default_tier",
                features: ConfidenceFeatures(
                    answer: "Una risposta abbastanza lunga da non essere corta, davvero.", tokenLogprobs: [-0.1], expectedFormat: nil),
                good: false)
            let task = ShadowTask(
                messages: [ChatMessage(role: "user", content: "Spiega il piano.")], answer: "Il piano.", expectedFormat: nil, outcome: outcome)
            for _ in 0..<2 { try await pool.redis.send("LPUSH", RedisArgument(pool.keys.shadowQueue), RedisArgument(bytes: task.json())) }
            // A job waiting on tier 1 (bulk lane): the shadow waits.
            try await pool.redis.send("LPUSH", RedisArgument(pool.keys.queue(.tier1Bulk)), "{}")
            #expect(await runner.pass() == false)
            try await pool.redis.send("DEL", RedisArgument(pool.keys.queue(.tier1Bulk)))
            #expect(await runner.pass() == true)
            // The first label spent more than the budget: the second waits for tomorrow.
            #expect(
                try await eventually {
                    try await pool.redis.send("GET", RedisArgument(pool.keys.shadowSpend(day: ShadowRunner.day(Date())))).string != nil
                })
            #expect(await runner.pass() == false)
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.shadowQueue)).integer == 1)
            #expect(try await OutcomeStream.read(connection: pool.redis, keys: pool.keys, limit: 10).outcomes.count == 1)
        }
    }

    @Test func samplingIsStickyPerJobAndExactOverManyIDs() {
        let ids = (0..<20_000).map { "job-\($0)" }
        let sampled = ids.filter { ShadowTask.isSampled(jobID: $0, rate: 0.05) }.count
        #expect(abs(Double(sampled) / Double(ids.count) - 0.05) < 0.005)
        #expect(ShadowTask.isSampled(jobID: "job-1", rate: 0.05) == ShadowTask.isSampled(jobID: "job-1", rate: 0.05))
        #expect(!ShadowTask.isSampled(jobID: "job-1", rate: 0) && ShadowTask.isSampled(jobID: "job-1", rate: 1))
    }
}
