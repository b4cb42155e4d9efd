import Foundation
import JobProtocol
import RedisClient
import Settings
import Testing

@testable import WorkerPool

/// The commands of one commit, read without Redis.
@Suite struct JobCommitPlanTests {
    static let keys = KeySpace(prefix: "cv")

    static func job() -> Job {
        Job(
            id: "j1", replyTo: keys.reply("j1"), createdAt: 1_767_225_600, deadlineAt: 1_767_225_660,
            messages: [ChatMessage(role: "user", content: "hi")])
    }

    static func names(_ commands: [RedisCommand]) -> [String] { commands.map { String(decoding: $0.arguments[0], as: UTF8.self) } }
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func aReplyIsGuardedAndWritesListTTLCacheAndAnnouncement() {
        let fetched = FetchedJob(queue: .tier1, payload: Array("payload".utf8), poppedAt: 0)
        let result = JobResult.failure(id: "j1", code: "x", message: "m")
        var okResult = result
        okResult.ok = true
        let plan = JobCommit.reply(Self.job(), okResult, cacheKey: "cv:cache:abc", stats: []).plan(
            keys: Self.keys, settings: CervellaSettings(), fetched: fetched, worker: "w1", now: Date(timeIntervalSince1970: 1_767_225_600)
        )
        #expect(plan.guardKey == "cv:done:j1")
        // Until past the deadline (60 s + 60 s), at least the reply TTL (300 s).
        #expect(plan.guardTTLSeconds == 300)
        #expect(Self.names(plan.first) == ["LPUSH", "EXPIRE", "SET", "PUBLISH"])
        #expect(Self.names(plan.always) == ["LREM"])
        #expect(Self.text(plan.always[0].arguments[1]) == "cv:processing:tier1:w1")
        #expect(Self.text(plan.always[0].arguments[2]) == "-1")
    }

    @Test func aStreamedJobsStreamEndsWithTheResultInsideTheGuard() {
        let fetched = FetchedJob(queue: .tier1, payload: Array("payload".utf8), poppedAt: 0)
        var job = Self.job()
        job.stream = true
        let result = JobResult.failure(id: "j1", code: "x", message: "m")
        let plan = JobCommit.reply(job, result, stats: []).plan(keys: Self.keys, settings: CervellaSettings(), fetched: fetched, worker: "w1")
        #expect(Self.names(plan.first) == ["LPUSH", "EXPIRE", "PUBLISH", "XADD", "EXPIRE"])
        let xadd = plan.first[3].arguments.map(Self.text)
        #expect(Array(xadd.prefix(6)) == ["XADD", "cv:stream:j1", "MAXLEN", "~", "20000", "*"])
        #expect(xadd[6...8] == ["kind", "end", "result"])
        #expect(xadd[9] == Self.text(result.jsonBytes()))
        #expect(plan.first[4].arguments.map(Self.text) == ["EXPIRE", "cv:stream:j1", "300"])
    }

    @Test func aGroupChildsResultIsCountedInItsGroupByOutcome() {
        let fetched = FetchedJob(queue: .tier1, payload: Array("payload".utf8), poppedAt: 0)
        var job = Self.job()
        job.group = "g1"
        var answered = JobResult.failure(id: "j1", code: "x", message: "m")
        answered.ok = true
        answered.error = nil
        let outcomes = [
            (answered, "succeeded"), (JobResult.failure(id: "j1", code: "cancelled", message: "m"), "cancelled"),
            (JobResult.failure(id: "j1", code: "deadline_exceeded", message: "m"), "failed"),
        ]
        for (result, outcome) in outcomes {
            let plan = JobCommit.reply(job, result, stats: []).plan(keys: Self.keys, settings: CervellaSettings(), fetched: fetched, worker: "w1")
            #expect(plan.group == GuardedCommit.GroupRecord(key: "cv:group:g1", child: "j1", outcome: outcome, result: result.jsonBytes()))
            #expect(plan.guardKey == "cv:done:j1", "counted only by the job's first finisher")
        }
        let alone = JobCommit.reply(Self.job(), answered, stats: []).plan(
            keys: Self.keys, settings: CervellaSettings(), fetched: fetched, worker: "w1")
        #expect(alone.group == nil)
        let dead = JobCommit(outcome: .dead(reason: "poison", replyTo: "cv:reply:j1", jobID: "j1", history: ["w died"], group: "g1"), stats: [])
            .plan(keys: Self.keys, settings: CervellaSettings(), fetched: fetched, worker: "w1")
        #expect(dead.group?.outcome == "failed")
        #expect(dead.group?.key == "cv:group:g1")
    }

    @Test func aDeadPayloadIsCutToTheLimitAndTheListTrimmed() throws {
        var settings = CervellaSettings()
        settings.worker.deadLetterPayloadBytes = 256
        settings.worker.deadLetterMaxLength = 7
        let payload = [UInt8](repeating: UInt8(ascii: "z"), count: 10_000)
        let fetched = FetchedJob(queue: .tier2, payload: payload, poppedAt: 0)
        let plan = JobCommit(outcome: .dead(reason: "payload is not valid JSON", replyTo: nil, jobID: nil, history: []), stats: []).plan(
            keys: Self.keys, settings: settings, fetched: fetched, worker: "w1"
        )
        #expect(plan.guardKey == nil)
        #expect(Self.names(plan.always) == ["LPUSH", "LTRIM", "LREM"])
        #expect(plan.always[1].arguments.map(Self.text) == ["LTRIM", "cv:dead", "0", "6"])
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(plan.always[0].arguments[2])) as? [String: Any])
        #expect((entry["payload"] as? String)?.utf8.count == 256)
        #expect(entry["payload_truncated"] as? Bool == true)
        #expect(entry["payload_bytes"] as? Int == 10_000)
        #expect(entry["queue"] as? String == "tier2")
    }

    @Test func aDeadJobWithAReplyKeyIsAnsweredOnceUnderItsGuard() {
        let fetched = FetchedJob(queue: .quarantine, payload: Array("{}".utf8), poppedAt: 0)
        let plan = JobCommit(outcome: .dead(reason: "poison", replyTo: "cv:reply:j1", jobID: "j1", history: ["w died"]), stats: []).plan(
            keys: Self.keys, settings: CervellaSettings(), fetched: fetched, worker: "w1"
        )
        #expect(plan.guardKey == "cv:done:j1")
        #expect(Self.names(plan.first) == ["LPUSH", "LTRIM", "LPUSH", "EXPIRE", "PUBLISH", "XADD", "EXPIRE"])
        #expect(Self.text(plan.first[2].arguments[1]) == "cv:reply:j1")
        #expect(Self.text(plan.first[2].arguments[2]).contains("poison_job"))
        // A streaming client of the job is told too: its stream ends with the same error.
        #expect(Self.text(plan.first[5].arguments[1]) == "cv:stream:j1")
        #expect(Self.text(plan.first[5].arguments.last!).contains("poison_job"))
    }

    @Test func aFallbackPushesTheJobAndLeavesNoGuard() {
        let fetched = FetchedJob(queue: .tier1, payload: Array("p".utf8), poppedAt: 0)
        let plan = JobCommit(outcome: .fallback(job: Self.job()), stats: []).plan(
            keys: Self.keys, settings: CervellaSettings(), fetched: fetched, worker: "w1")
        #expect(plan.guardKey == nil)
        #expect(Self.names(plan.always) == ["LPUSH", "LREM"])
        #expect(Self.text(plan.always[0].arguments[1]) == "cv:queue:fallback")
    }

    @Test func anAbsurdDeadlineCannotOverflowTheGuardTTL() {
        var job = Self.job()
        job.deadlineAt = 1e300
        let fetched = FetchedJob(queue: .tier1, payload: [], poppedAt: 0)
        let plan = JobCommit.reply(job, .failure(id: "j1", code: "c", message: "m"), stats: []).plan(
            keys: Self.keys, settings: CervellaSettings(), fetched: fetched, worker: "w")
        #expect(plan.guardTTLSeconds > 0)
    }
}
