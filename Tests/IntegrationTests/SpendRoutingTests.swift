import CervellaTestSupport
import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Settings
import Synchronization
import Testing

@testable import Producer
@testable import WorkerPool

/// Routing that spends Claude only where the small tier cannot serve: tier windows (a schedule
/// per tier, on a clock the test controls) and deadline-aware routing (a backlog that would
/// make a job miss its deadline).
@Suite(.timeLimit(.minutes(3))) struct SpendRoutingTests {
    /// Wednesday 2 December 2026, 19:59:30 in Rome (18:59:30 UTC).
    static let beforeClose = Date(timeIntervalSince1970: 1_796_237_970)

    @Test func aTierWindowSwitchesRoutingAtItsBoundary() async throws {
        try await withTestPool(configure: { $0.tiers[.tier1]?.window = try! TierWindow(parsing: "mon-fri 08:00-20:00 Europe/Rome", key: "t") }) {
            pool in
            let clock = Mutex(Self.beforeClose)
            let live = LiveConfigWatcher(settings: pool.settings, connection: pool.redis, logger: TestEnvironment.logger)
            let producer = Producer(settings: pool.settings, connection: pool.redis, flags: { live.current }, clock: { clock.withLock { $0 } })
            defer { producer.close() }
            func route() throws -> Route {
                try producer.route(
                    jobID: "j", messages: [ChatMessage(role: "user", content: "Summarize the notes.")], tierHint: "auto", forceModel: nil)
            }
            #expect(try route() == Route(tier: 1, model: "qwen3-4b", reason: "simple_task_pattern_matched"))
            clock.withLock { $0 += 30 }  // 20:00:00 in Rome: closed.
            let outside = try route()
            #expect(outside.tier == 3 && outside.reason == "simple_task_pattern_matched_tier1_outside_window")
            clock.withLock { $0 += 2.5 * 86_400 }  // Saturday 08:00.
            #expect(try route().tier == 3)
            clock.withLock { $0 += 2 * 86_400 }  // Monday 08:00: open again.
            #expect(try route().tier == 1)

            // A job answered while its tier is closed goes to Claude and says why.
            let job = try producer.makeJob(messages: [ChatMessage(role: "user", content: "Summarize the notes, please.")], timeoutSeconds: 60)
            clock.withLock { $0 = Self.beforeClose + 30 }
            let closed = try producer.makeJob(messages: [ChatMessage(role: "user", content: "Summarize the notes, again.")], timeoutSeconds: 60)
            #expect(job.route?.tier == 1 && closed.route?.tier == 3)
            let answer = try await pool.producer.submit(closed)
            #expect(
                answer.ok && answer.metadata?.tier == 3 && answer.metadata?.tierDecisionReason == "simple_task_pattern_matched_tier1_outside_window")

            // The window is a live switch too: cleared, tier 1 is always open.
            try await LiveConfigStore(connection: pool.redis, keys: pool.keys).set(["tier1_window": ""], by: "test")
            await live.refresh()
            #expect(try route().tier == 1)
            #expect(await pool.workersSee { $0.windows[.tier1]?.isAlwaysOpen == true })
        }
    }

    /// A job already queued when its tier's window closes is answered by Claude, not the small model.
    @Test func aWorkerSendsAQueuedJobOfAClosedTierToClaude() throws {
        var settings = CervellaSettings()
        settings.tiers[.tier1]?.window = try TierWindow(parsing: "mon-fri 08:00-20:00 Europe/Rome", key: "t")
        let flags = LiveFlags(settings: settings)
        let job = Job(id: "j", replyTo: "cervella:reply:j", createdAt: 0, deadlineAt: nil, messages: [ChatMessage(role: "user", content: "Hi")])
        let route = JobDecision.Route(fetchedFrom: .tier1, job: job)
        #expect(JobDecision.bypass(job, route: route, flags: flags, settings: settings, now: Self.beforeClose) == nil)
        let commit = try #require(JobDecision.bypass(job, route: route, flags: flags, settings: settings, now: Self.beforeClose + 30))
        guard case .fallback(let next) = commit.outcome else {
            Issue.record("expected a fallback")
            return
        }
        #expect(next.fallbackFrom?.reason == "tier1_outside_window")
    }

    /// Tier 1 slowed down: two slots answer a second each while jobs pile up. A job whose
    /// deadline the queue would make it miss goes to Claude (`tier1_backlog`), and once the queue
    /// has drained, jobs go to tier 1 again.
    @Test func aSlowedTierOneSendsJobsToClaudeByDeadlineAndTakesThemBack() async throws {
        // The pool's worker serves tier 1 alone, with two slots; another serves Claude.
        try await withTestPool(configure: {
            $0.worker.concurrency = 2
            $0.worker.queues = ["tier1"]
        }) { pool in
            let claude = try Worker(settings: pool.settings, queues: [.tier3], concurrency: 8, id: "claude-worker", logger: TestEnvironment.logger)
            let claudeRun = Task { try await claude.run() }
            defer {
                claude.requestShutdown()
                claudeRun.cancel()
            }
            let backlog = BacklogWatch(connection: pool.redis, keys: pool.keys, logger: TestEnvironment.logger)
            let producer = Producer(settings: pool.settings, connection: pool.redis, backlog: backlog)
            defer { producer.close() }
            let slow = try (0..<12).map { index in
                try producer.makeJob(
                    messages: [ChatMessage(role: "user", content: "Summarize part \(index).\n#sim latency_ms=1000")], cache: false,
                    timeoutSeconds: 120)
            }
            #expect(slow.allSatisfy { $0.route?.tier == 1 })
            for job in slow { #expect(try await producer.enqueue(job) == .queued) }
            // Let the workers take some, so the drain rate is measured.
            #expect(
                try await eventually(timeout: .seconds(20)) {
                    await backlog.refresh()
                    guard let estimate = backlog.estimate(.tier1) else { return false }
                    return estimate.drainPerSecond > 0 && estimate.interactiveDepth > 2
                })
            let wait = try #require(backlog.estimate(.tier1)?.waitSeconds(priority: .interactive))
            #expect(wait > 3)
            let urgent = try producer.makeJob(messages: [ChatMessage(role: "user", content: "Summarize this now.")], cache: false, timeoutSeconds: 6)
            #expect(urgent.route?.tier == 3 && urgent.route?.reason == "tier1_backlog")
            let answer = try await producer.submit(urgent)
            #expect(answer.ok && answer.metadata?.tier == 3)
            // A patient job still goes to tier 1.
            let patient = try producer.makeJob(
                messages: [ChatMessage(role: "user", content: "Summarize this later.")], cache: false, timeoutSeconds: 600)
            #expect(patient.route?.tier == 1)
            // Drained: back to tier 1.
            for job in slow { _ = try await producer.waitForResult(job) }
            await backlog.refresh()
            let later = try producer.makeJob(
                messages: [ChatMessage(role: "user", content: "Summarize this now, again.")], cache: false, timeoutSeconds: 4)
            #expect(later.route?.tier == 1)
        }
    }

    @Test func theDrainRateIsMeasuredFromTheFirstSlotThatTookAJob() {
        // Idle for three slots, then 10 jobs in the 4 s of the current one.
        #expect(BacklogWatch.drainRate(takenPerSlot: [0, 0, 0, 10], secondsIntoCurrentSlot: 4) == 2.5)
        // 20 jobs in the last slot and 10 so far in the current: over 15 s.
        #expect(BacklogWatch.drainRate(takenPerSlot: [0, 0, 20, 10], secondsIntoCurrentSlot: 5) == 2)
        #expect(BacklogWatch.drainRate(takenPerSlot: [0, 0, 0, 0], secondsIntoCurrentSlot: 5) == 0)
        // A tier that took 39 jobs and then stalled drains slowly, not never.
        #expect(BacklogWatch.drainRate(takenPerSlot: [39, 0, 0, 0], secondsIntoCurrentSlot: 9) == 1)
    }

    @Test func theWaitIsTheWorkAheadOverTheDrainRate() {
        let estimate = BacklogWatch.Estimate(interactiveDepth: 10, bulkDepth: 30, drainPerSecond: 5)
        #expect(estimate.waitSeconds(priority: .interactive) == 2)
        #expect(estimate.waitSeconds(priority: .bulk) == 8)
        #expect(BacklogWatch.Estimate(interactiveDepth: 0, bulkDepth: 0, drainPerSecond: 0).waitSeconds(priority: .interactive) == nil)
        #expect(BacklogWatch.Estimate(interactiveDepth: 3, bulkDepth: 0, drainPerSecond: 0).waitSeconds(priority: .interactive) == .infinity)
    }
}
