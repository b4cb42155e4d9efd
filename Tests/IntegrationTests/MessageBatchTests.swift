import CervellaTestSupport
import Foundation
import JobProtocol
import ProviderSimulator
import RedisClient
import Settings
import Testing

/// Claude's Message Batches for bulk fallbacks (docs/ROUTING.md, "Message Batches"), against a
/// real Redis and the simulator's batch endpoints.
@Suite(.timeLimit(.minutes(2))) struct MessageBatchTests {
    static func simulator(batchSeconds: Double) async throws -> RunningSimulator {
        var configuration = SimulatorConfiguration(port: 0)
        configuration.batchProcessingSeconds = batchSeconds
        return try await RunningSimulator.start(configuration: configuration)
    }

    /// Batching on with test timings. A batch goes when `maxBatchSize` jobs wait, or when the
    /// oldest has waited `collect` seconds.
    static func batching(_ settings: inout CervellaSettings, maxBatchSize: Int = 1_000, collect: Double = 0.5) {
        settings.messageBatches.enabled = true
        settings.messageBatches.horizonSeconds = 30
        settings.messageBatches.collectSeconds = collect
        settings.messageBatches.pollIntervalSeconds = 0.3
        settings.messageBatches.rescueSeconds = 5
        settings.messageBatches.maxBatchSize = maxBatchSize
        settings.worker.concurrency = 64
    }

    /// Bulk tier-1 jobs whose small-model answer is evasive: each falls back to Claude in the
    /// `fallback_bulk` lane, with a deadline well past the horizon.
    static func bulkJobs(_ pool: TestPool, count: Int, tag: String, directive: (Int) -> String = { _ in "" }) throws -> [Job] {
        try (0..<count).map { index in
            var job = try pool.job(
                "Summarize bulk report \(tag)-\(index).\n#sim openai evasive\(directive(index))", tier: 1, cache: false, timeout: 120)
            job.priority = .bulk
            return job
        }
    }

    static func hourSum(_ pool: TestPool, _ field: String, since start: Date) async throws -> Double {
        var total = 0.0
        for hour in Set([HourKey.at(start), HourKey.now()]) {
            total +=
                try await pool.redis.send("HGET", RedisArgument(pool.keys.stats(hour: hour)), RedisArgument(field)).string.flatMap(Double.init) ?? 0
        }
        return total
    }

    /// Each reply list holds nothing more once its result was read, and the job's done guard is set.
    static func answeredOnce(_ pool: TestPool, _ jobs: [Job]) async throws -> Bool {
        for job in jobs {
            guard try await pool.redis.send("LLEN", RedisArgument(job.replyTo)).integer == 0,
                try await pool.redis.send("EXISTS", RedisArgument(pool.keys.done(job.id))).integer == 1
            else { return false }
        }
        return true
    }

    @Test func threeHundredBulkFallbacksAreAnsweredThroughBatchesAtHalfClaudesPrice() async throws {
        let simulator = try await Self.simulator(batchSeconds: 1)
        let start = Date()
        try await withTestPool(configure: { Self.batching(&$0, maxBatchSize: 150) }, simulator: simulator) { pool in
            let jobs = try Self.bulkJobs(pool, count: 300, tag: "cost")
            for job in jobs { _ = try await pool.producer.enqueue(job) }
            var results: [JobResult] = []
            for job in jobs { results.append(try await pool.producer.waitForResult(job)) }
            let elapsed = Date().timeIntervalSince(start)

            #expect(results.allSatisfy { $0.ok }, "\(results.first { !$0.ok }?.error.map { "\($0.code): \($0.message)" } ?? "")")
            let batchIDs = Set(results.compactMap { $0.metadata?.messageBatch })
            #expect(results.allSatisfy { $0.metadata?.messageBatch != nil && $0.metadata?.fallback == true })
            #expect(batchIDs.count >= 2, "300 entries at most 150 a batch: \(batchIDs.count) batches")
            #expect(simulator.stats.count(SimulatorStats.messages) == 0, "no Messages call of its own")
            #expect(simulator.stats.count(SimulatorStats.messageBatchEntries) == 300)
            #expect(simulator.stats.count(SimulatorStats.chatCompletions) == 300)

            // Each answer costs the small model's attempt plus half of Claude's price.
            let claude = pool.settings.tier(.claude)
            let small = pool.settings.tier(.tier1).costUSD(inputTokens: 0, outputTokens: 0)
            var fullClaude = 0.0
            var paidClaude = 0.0
            for result in results {
                guard let metadata = result.metadata else { continue }
                let full = claude.costUSD(inputTokens: metadata.tokensInput, outputTokens: metadata.tokensOutput)
                fullClaude += full
                paidClaude += metadata.costUSD - small
                #expect(abs(metadata.costUSD - (small + full / 2)) < 1e-8)
            }
            #expect(abs(paidClaude - fullClaude / 2) < 1e-6)
            #expect(try await Self.answeredOnce(pool, jobs))
            #expect(try await Self.hourSum(pool, "message_batch_answers", since: start) == 300)
            #expect(abs(try await Self.hourSum(pool, "message_batch_saved_usd", since: start) - fullClaude / 2) < 1e-6)
            #expect(try await Self.hourSum(pool, "duplicate_provider_calls", since: start) == 0)
            #expect(try await pool.redis.send("HLEN", RedisArgument(pool.keys.messageBatchOpen)).integer == 0)
            #expect(try await pool.redis.send("LLEN", RedisArgument(pool.keys.messageBatchPending)).integer == 0)
            print(
                "MessageBatchTests: 300 bulk fallbacks in \(batchIDs.count) batches, \(String(format: "%.1f", elapsed)) s; Claude $\(String(format: "%.6f", paidClaude)) instead of $\(String(format: "%.6f", fullClaude))"
            )
        }
    }

    @Test func aWorkerKilledMidBatchLosesNothingAndAnswersNothingTwice() async throws {
        let simulator = try await Self.simulator(batchSeconds: 4)
        let start = Date()
        // The issue's case: one batch of exactly 300 bulk fallbacks, sent once they all wait.
        try await withTestPool(configure: { Self.batching(&$0, maxBatchSize: 300, collect: 20) }, workers: 0, simulator: simulator) { pool in
            let process = try pool.launch(
                ["worker"],
                config: """
                    [worker]
                    block_timeout_seconds = 0.5
                    heartbeat_interval_seconds = 1.0
                    heartbeat_ttl_seconds = 3
                    [message_batches]
                    enabled = true
                    horizon_seconds = 30
                    max_batch_size = 300
                    collect_seconds = 20
                    poll_interval_seconds = 0.3
                    rescue_seconds = 5
                    """)
            let jobs = try Self.bulkJobs(pool, count: 300, tag: "kill")
            for job in jobs { _ = try await pool.producer.enqueue(job) }
            // After the submit, before the results: every job in one submitted batch.
            var batchID: String?
            let submitted = await eventually(timeout: .seconds(40)) {
                guard let open = try? await pool.redis.send("HGETALL", RedisArgument(pool.keys.messageBatchOpen)).array, open.count == 2,
                    let record = open[1].bytes.flatMap({ JSONValue.read($0) }), record["state"]?.stringValue == "submitted",
                    record["entries"]?.intValue == 300
                else { return false }
                batchID = record["batch"]?.stringValue
                return true
            }
            #expect(submitted, "the worker did not submit one batch of 300")
            #expect(simulator.stats.count(SimulatorStats.messageBatchResults) == 0)
            kill(process.processIdentifier, SIGKILL)
            for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(20)) }

            // Another worker takes the lease and carries on polling the same batch.
            try await pool.startWorkers(1)
            var results: [JobResult] = []
            for job in jobs { results.append(try await pool.producer.waitForResult(job)) }
            #expect(results.allSatisfy { $0.ok })
            #expect(results.allSatisfy { $0.metadata?.messageBatch == batchID })
            // At half Claude's price: each answer is the small attempt plus half of Claude's.
            let claude = pool.settings.tier(.claude)
            let small = pool.settings.tier(.tier1).costUSD(inputTokens: 0, outputTokens: 0)
            #expect(
                results.allSatisfy { result in
                    guard let metadata = result.metadata else { return false }
                    let full = claude.costUSD(inputTokens: metadata.tokensInput, outputTokens: metadata.tokensOutput)
                    return abs(metadata.costUSD - (small + full / 2)) < 1e-8
                })
            #expect(simulator.stats.count(SimulatorStats.messageBatches) == 1, "the batch was not sent again")
            #expect(simulator.stats.count(SimulatorStats.messageBatchEntries) == 300)
            #expect(simulator.stats.count(SimulatorStats.messages) == 0)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await Self.answeredOnce(pool, jobs))
            #expect(try await Self.hourSum(pool, "message_batch_answers", since: start) == 300)
            #expect(try await pool.redis.send("HLEN", RedisArgument(pool.keys.messageBatchOpen)).integer == 0)
        }
    }

    @Test func erroredAndExpiredEntriesAreAnsweredByACallOfTheirOwn() async throws {
        let simulator = try await Self.simulator(batchSeconds: 0.5)
        try await withTestPool(configure: { Self.batching(&$0, maxBatchSize: 10, collect: 20) }, simulator: simulator) { pool in
            let jobs = try Self.bulkJobs(pool, count: 10, tag: "rescue") { index in
                switch index {
                case 0, 1: "\n#sim anthropic batch=errored"
                case 2, 3: "\n#sim anthropic batch=expired"
                default: ""
                }
            }
            for job in jobs { _ = try await pool.producer.enqueue(job) }
            var results: [JobResult] = []
            for job in jobs { results.append(try await pool.producer.waitForResult(job)) }
            #expect(results.allSatisfy { $0.ok })
            #expect(results.prefix(4).allSatisfy { $0.metadata?.messageBatch == nil }, "rescued entries are answered by a Messages call")
            #expect(results.dropFirst(4).allSatisfy { $0.metadata?.messageBatch != nil })
            #expect(simulator.stats.count(SimulatorStats.messages) == 4)
            #expect(simulator.stats.count(SimulatorStats.messageBatches) == 1, "a rescued entry is never batched again")
            #expect(try await Self.answeredOnce(pool, jobs))
        }
    }

    /// The crash between staging and recording the batch id: the worker died during the create
    /// call. Its staged jobs go back to pending once the record is older than the create timeout
    /// plus the lease, and are sent in a new batch.
    @Test func jobsStagedByAWorkerThatDiedDuringTheCreateCallAreSentAgain() async throws {
        let simulator = try await Self.simulator(batchSeconds: 0.5)
        try await withTestPool(configure: { Self.batching(&$0, maxBatchSize: 10, collect: 0.5) }, workers: 0, simulator: simulator) { pool in
            let jobs = try Self.bulkJobs(pool, count: 5, tag: "staged")
            let handle = "staged-dead-worker"
            var fields: [RedisArgument] = [RedisArgument(pool.keys.messageBatchEntries(handle))]
            for (index, job) in jobs.enumerated() {
                fields += [RedisArgument("e\(index + 1)"), RedisArgument(bytes: Array(try JSONEncoder().encode(job)))]
            }
            let record = "{\"at\":\(Date().timeIntervalSince1970 - 1000),\"owner\":\"ghost:1\",\"state\":\"staged\"}"
            _ = try await pool.redis.send(RedisCommand("HSET", arguments: fields))
            _ = try await pool.redis.send("HSET", RedisArgument(pool.keys.messageBatchOpen), RedisArgument(handle), RedisArgument(record))
            try await pool.startWorkers(1)
            var results: [JobResult] = []
            for job in jobs { results.append(try await pool.producer.waitForResult(job)) }
            #expect(results.allSatisfy { $0.ok && $0.metadata?.messageBatch != nil })
            #expect(simulator.stats.count(SimulatorStats.messageBatches) == 1)
            #expect(try await pool.redis.send("HEXISTS", RedisArgument(pool.keys.messageBatchOpen), RedisArgument(handle)).integer == 0)
            #expect(try await Self.answeredOnce(pool, jobs))
        }
    }

    @Test func aJobCancelledWhileItsBatchRunsIsAnsweredCancelled() async throws {
        let simulator = try await Self.simulator(batchSeconds: 2)
        try await withTestPool(configure: { Self.batching(&$0, maxBatchSize: 3, collect: 20) }, simulator: simulator) { pool in
            let jobs = try Self.bulkJobs(pool, count: 3, tag: "cancel")
            for job in jobs { _ = try await pool.producer.enqueue(job) }
            #expect(await eventually(timeout: .seconds(20)) { simulator.stats.count(SimulatorStats.messageBatches) == 1 })
            try await pool.producer.cancel(jobs[0].id)
            let cancelled = try await pool.producer.waitForResult(jobs[0])
            #expect(cancelled.error?.code == "cancelled")
            for job in jobs.dropFirst() { #expect(try await pool.producer.waitForResult(job).metadata?.messageBatch != nil) }
            #expect(simulator.stats.count(SimulatorStats.messages) == 0)
        }
    }

    @Test func jobsDueBeforeTheHorizonAreNotBatched() async throws {
        let simulator = try await Self.simulator(batchSeconds: 0.5)
        try await withTestPool(configure: { Self.batching(&$0) }, simulator: simulator) { pool in
            var job = try pool.job("Summarize the urgent report.\n#sim openai evasive", tier: 1, cache: false, timeout: 20)
            job.priority = .bulk
            let result = try await pool.producer.submit(job)
            #expect(result.ok && result.metadata?.messageBatch == nil)
            #expect(simulator.stats.count(SimulatorStats.messageBatches) == 0)
        }
    }
}
