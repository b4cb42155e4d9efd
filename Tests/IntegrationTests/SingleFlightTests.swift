import CervellaTestSupport
import ControlPlane
import Foundation
import JobProtocol
import ProviderSimulator
import RedisClient
import Settings
import Testing

@testable import Producer

/// Single-flight: identical requests in flight at the same time make one provider call, the
/// others get its answer as `coalesced: true`, and none is left waiting when the leader cannot
/// answer for itself.
@Suite(.timeLimit(.minutes(3))) struct SingleFlightTests {
    static let question = "Summarize the quarterly report in one line.\n#sim latency_ms=700"

    @Test func identicalConcurrentRequestsMakeOneProviderCall() async throws {
        try await withTestPool { pool in
            pool.simulator.stats.reset()
            let results = try await withThrowingTaskGroup(of: JobResult.self) { group in
                for _ in 0..<60 { group.addTask { try await pool.ask(Self.question, tier: 1) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(pool.simulator.stats.count(SimulatorStats.chatCompletions) == 1)
            #expect(results.allSatisfy { $0.ok && $0.response == results[0].response })
            #expect(Set(results.map(\.id)).count == 60)
            let leaders = results.filter { $0.metadata?.cacheHit == false }
            #expect(leaders.count == 1)
            let followers = results.filter { $0.metadata?.coalesced == true }
            // Every other request waited on the leader (a late one would be a plain cache hit).
            #expect(followers.count + results.filter { $0.metadata?.cacheHit == true && $0.metadata?.coalesced == nil }.count == 59)
            #expect(followers.count >= 50)
            #expect(followers.allSatisfy { $0.metadata?.costUSD == 0 && $0.metadata?.tier == 1 })
            try await pool.settleStats()
            let hour = RedisArgument(pool.keys.stats(hour: HourlyStats.hourKey(Date())))
            #expect(try await pool.redis.send("HGET", hour, "coalesced_hits").integer == followers.count)
            // The cost report shows them, and what they saved: the leader's call, once per follower.
            let report = try await CostReport.load(connection: pool.redis, keys: pool.keys, period: .daily, day: Date(), settings: pool.settings)
            #expect(report.coalescedHits == Double(followers.count))
            let leaderCost = try #require(leaders.first?.metadata?.costUSD)
            #expect(abs(report.coalescedSavedUSD - leaderCost * Double(followers.count)) < 0.000_001)
            // The flight is over: its keys are gone.
            let digest = CacheKey.digest(for: try pool.job(Self.question, tier: 1))
            #expect(try await pool.redis.send("EXISTS", RedisArgument(pool.keys.flight(digest))).integer == 0)
            #expect(try await pool.redis.send("EXISTS", RedisArgument(pool.keys.flight(digest) + ":followers")).integer == 0)
        }
    }

    /// The leader's worker died holding it: the reaper recovers it, and its answer reaches the
    /// followers that were waiting all along.
    @Test func followersOfALeaderWhoseWorkerDiedAreAnsweredThroughTheReaper() async throws {
        try await withTestPool(workers: 0) { pool in
            let text = "Summarize the survivor's notes.\n#sim latency_ms=200"
            let leader = try pool.job(text, tier: 1)
            #expect(try await pool.producer.enqueue(leader) == .queued)
            let followers = try (0..<5).map { _ in try pool.job(text, tier: 1) }
            for follower in followers { #expect(try await pool.producer.enqueue(follower) == .queued) }
            // Only the leader was queued; a worker takes it and dies.
            let queue = RedisArgument(pool.keys.queue(.tier1))
            #expect(try await pool.redis.send("LLEN", queue).integer == 1)
            let ghost = pool.keys.processing(.tier1, worker: "ghost-host:99")
            try await pool.redis.send("RPOPLPUSH", queue, RedisArgument(ghost))

            try await pool.startWorkers(1)
            let answered = try await pool.producer.waitForResult(leader)
            #expect(answered.ok && answered.metadata?.cacheHit == false)
            for follower in followers {
                let result = try await pool.producer.waitForResult(follower)
                #expect(result.ok && result.id == follower.id && result.metadata?.coalesced == true)
                #expect(result.response == answered.response)
            }
            #expect(pool.simulator.stats.count(SimulatorStats.chatCompletions) == 1)
        }
    }

    /// A leader whose small-model answer falls back leads on: its followers get Claude's answer.
    @Test func followersOfALeaderThatFellBackGetClaudesAnswer() async throws {
        try await withTestPool { pool in
            pool.simulator.stats.reset()
            let text = "Summarize the hard memo.\n#sim openai logprob=-3 latency_ms=400"
            let results = try await withThrowingTaskGroup(of: JobResult.self) { group in
                for _ in 0..<8 { group.addTask { try await pool.ask(text, tier: 1) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.ok && $0.metadata?.tier == 3 && $0.metadata?.fallback == true })
            #expect(results.filter { $0.metadata?.coalesced == true }.count == 7)
            #expect(pool.simulator.stats.count(SimulatorStats.chatCompletions) == 1)
            #expect(pool.simulator.stats.count(SimulatorStats.messages) == 1)
        }
    }

    /// A cancelled leader does not pass its cancellation on: its first follower is queued as the
    /// new leader, and the rest get that one's answer.
    @Test func aCancelledLeaderHandsTheFlightToAFollower() async throws {
        try await withTestPool { pool in
            pool.simulator.stats.reset()
            let text = "Summarize the long memo.\n#sim latency_ms=1500"
            let leader = try pool.job(text, tier: 1)
            #expect(try await pool.producer.enqueue(leader) == .queued)
            let followers = try (0..<3).map { _ in try pool.job(text, tier: 1) }
            for follower in followers { #expect(try await pool.producer.enqueue(follower) == .queued) }
            #expect(try await eventually { pool.simulator.stats.count(SimulatorStats.chatCompletions) == 1 })
            try await pool.producer.cancel(leader.id)
            let cancelled = try await pool.producer.waitForResult(leader)
            #expect(cancelled.error?.code == "cancelled")
            var answers: [JobResult] = []
            for follower in followers { answers.append(try await pool.producer.waitForResult(follower)) }
            #expect(answers.allSatisfy { $0.ok })
            // One follower made the second call; the other two got its answer.
            #expect(answers.filter { $0.metadata?.coalesced == true }.count == 2)
            #expect(pool.simulator.stats.count(SimulatorStats.chatCompletions) == 2)
        }
    }

    /// Requests that differ, or that may not share (no cache, streamed), each make their call.
    @Test func onlyIdenticalShareableRequestsCoalesce() async throws {
        try await withTestPool(configure: { $0.cache.singleFlight = false }) { pool in
            pool.simulator.stats.reset()
            _ = try await withThrowingTaskGroup(of: JobResult.self) { group in
                for _ in 0..<5 { group.addTask { try await pool.ask(Self.question, tier: 1) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // Switched off: every request arrived before the first answer was cached.
            #expect(pool.simulator.stats.count(SimulatorStats.chatCompletions) == 5)
        }
        let settings = CervellaSettings()
        var job = Job(
            id: "j", replyTo: "cervella:reply:j", createdAt: 0, deadlineAt: 60, messages: [ChatMessage(role: "user", content: "Hi")])
        #expect(SingleFlight.isEligible(job, settings: settings))
        job.cache = false
        #expect(!SingleFlight.isEligible(job, settings: settings))
        job.cache = true
        job.stream = true
        #expect(!SingleFlight.isEligible(job, settings: settings))
        job.stream = false
        job.group = "g1"
        #expect(!SingleFlight.isEligible(job, settings: settings))
    }

    @Test func theFollowerTemplateCarriesEachFollowersOwnID() throws {
        let metadata = ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 10, queueMs: 1, confidence: 0.9, costUSD: 0.001, tokensInput: 3, tokensOutput: 4,
            tierDecisionReason: "test", worker: "w", timestamp: "2026-12-01T00:00:00Z")
        let result = JobResult.success(id: "leader", response: "An \"answer\" with the id leader in it.", metadata: metadata)
        let template = try #require(SingleFlight.followerTemplate(result))
        let followerID = "follower/\"quoted\""
        var w = JSONWriter()
        w.string(followerID)
        let decoded = try JobResult.decode(template.head + w.bytes + template.tail)
        #expect(decoded.id == followerID && decoded.response == result.response)
        #expect(decoded.metadata?.coalesced == true && decoded.metadata?.cacheHit == true && decoded.metadata?.costUSD == 0)
    }
}
