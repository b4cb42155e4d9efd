import ControlPlane
import Foundation
import JobProtocol
import Producer
import RedisClient
import Scoring
import Settings

/// The one atomic write that ends a job's stay in a worker: its outcome and the LREM that
/// takes it off the processing list, so a crash leaves both or neither. Its statistics go to
/// the worker's `StatsAccumulator` once the write succeeded.
struct JobCommit: Sendable {
    enum Outcome: Sendable {
        /// Answer (or error) to the reply list; the answer to the cache when `cacheKey` is set.
        case reply(job: Job, result: JobResult, cacheKey: String?)
        /// Push to the Claude fallback queue, `fallback_from` filled in.
        case fallback(job: Job)
        /// Unreadable or poison job: to the dead letter list (with its recovery history), and an
        /// error result where a reply key is known.
        case dead(reason: String, replyTo: String?, jobID: String?, history: [String], group: String? = nil)
    }

    var outcome: Outcome
    var stats: [StatsEvent]
    /// A gateway job's answer as the gate saw it, kept for its owner's rating.
    var gate: GateRecord?
    /// An accepted small-model answer sampled for a shadow label (`ShadowRunner`).
    var shadow: ShadowTask?
    /// A fallback hop's Claude call, settled against the escalation budget (`EscalationBudget`).
    var budgetSettlement: BudgetSettlement?
    /// The job's single-flight key when it may lead (`SingleFlight`): its reply answers the
    /// followers waiting on it.
    var flightKey: String?

    static func reply(_ job: Job, _ result: JobResult, cacheKey: String? = nil, stats: [StatsEvent]) -> JobCommit {
        JobCommit(outcome: .reply(job: job, result: result, cacheKey: cacheKey), stats: stats)
    }

    /// The commands of one commit. With a `guardKey`, `first` runs only for the first
    /// finisher of the job (see `GuardedCommit`); `always` runs in every case. Without one, everything runs in one MULTI/EXEC.
    struct Plan {
        var guardKey: String?
        var guardTTLSeconds = 0
        var first: [RedisCommand] = []
        var always: [RedisCommand] = []
        /// A group child's result, counted in its group by the first finisher.
        var group: GuardedCommit.GroupRecord?
        /// The escalation budget's settlement of a fallback hop, run by every finisher.
        var budget: BudgetSettlement?
        /// A single-flight leader's release, run by the first finisher.
        var flight: GuardedCommit.FlightRelease?
    }

    func plan(keys: KeySpace, settings: CervellaSettings, fetched: FetchedJob, worker: String, now: Date = Date()) -> Plan {
        let replyTTL = RedisArgument(settings.redis.replyTTLSeconds)
        var plan = Plan()
        // From the tail: jobs finish roughly in the order they were fetched, and the oldest
        // sit at the tail, so the scan stops early.
        plan.always.append(
            RedisCommand("LREM", RedisArgument(keys.processing(fetched.queue, worker: worker)), -1, RedisArgument(bytes: fetched.payload)))
        // The guard lives as long as a duplicate could still finish: until past the deadline.
        func guardTTL(_ job: Job?) -> Int {
            // Deadlines are bounded (JobLimits), so this sum cannot overflow.
            let untilDeadline = job?.deadlineAt.map { Int(saturating: $0 - now.timeIntervalSince1970) } ?? 0
            return max(settings.redis.replyTTLSeconds, min(untilDeadline, 4_000_000_000) + 60)
        }
        switch outcome {
        case .reply(let job, let result, let cacheKey):
            plan.budget = budgetSettlement
            if let flightKey, let template = SingleFlight.followerTemplate(result) {
                // A leader that could not answer for itself hands the flight on.
                let promote = !result.ok && ["cancelled", "deadline_exceeded"].contains(result.error?.code ?? "")
                plan.flight = GuardedCommit.FlightRelease(
                    key: flightKey, jobID: job.id, promote: promote, head: template.head, tail: template.tail,
                    savedUSD: result.metadata?.costUSD ?? 0)
            }
            let bytes = result.jsonBytes()
            plan.guardKey = keys.done(job.id)
            plan.guardTTLSeconds = guardTTL(job)
            plan.first.append(RedisCommand("LPUSH", RedisArgument(job.replyTo), RedisArgument(bytes: bytes)))
            plan.first.append(RedisCommand("EXPIRE", RedisArgument(job.replyTo), replyTTL))
            if let cacheKey, result.ok {
                plan.first.append(
                    RedisCommand("SET", RedisArgument(cacheKey), RedisArgument(bytes: bytes), "EX", RedisArgument(settings.cache.ttlSeconds)))
            }
            // The result itself, so a subscribed gateway answers without reading the list back.
            plan.first.append(RedisCommand("PUBLISH", RedisArgument(keys.replyEvents), RedisArgument(bytes: bytes)))
            // A streamed job's stream ends with the result, exactly once, with the reply.
            if job.stream {
                plan.first += StreamEntry.endCommands(key: keys.stream(job.id), ttlSeconds: settings.redis.replyTTLSeconds, result: bytes)
            }
            if let gate, settings.routing.feedbackWindowSeconds > 0 {
                plan.first.append(
                    RedisCommand(
                        "SET", RedisArgument(keys.gateRecord(job.id)), RedisArgument(bytes: gate.json()), "EX",
                        RedisArgument(settings.routing.feedbackWindowSeconds)))
            }
            if let shadow {
                plan.first.append(RedisCommand("LPUSH", RedisArgument(keys.shadowQueue), RedisArgument(bytes: shadow.json())))
                plan.first.append(RedisCommand("LTRIM", RedisArgument(keys.shadowQueue), 0, RedisArgument(settings.shadow.maxPending - 1)))
            }
            if let group = job.group {
                plan.group = GuardedCommit.GroupRecord(key: keys.group(group), child: job.id, outcome: Self.groupOutcome(result), result: bytes)
            }
        case .fallback(let job):
            let bytes = job.jsonBytes()
            plan.always.insert(
                RedisCommand("LPUSH", RedisArgument(keys.queue(QueueName.fallback.lane(job.priority))), RedisArgument(bytes: bytes)), at: 0)
        case .dead(let reason, let replyTo, let jobID, let history, let group):
            let limit = settings.worker.deadLetterPayloadBytes
            var entry: [String: Any] = [
                "reason": reason, "queue": fetched.queue.rawValue, "worker": worker, "at": now.timeIntervalSince1970,
                "id": jobID ?? NSNull(), "payload": String(decoding: fetched.payload.prefix(limit), as: UTF8.self),
            ]
            if fetched.payload.count > limit {
                // Cut, and said so: a 50 MB payload must not fill a Redis that anyone can push to.
                entry["payload_truncated"] = true
                entry["payload_bytes"] = fetched.payload.count
            }
            if !history.isEmpty { entry["history"] = history }
            let bytes = Array((try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])) ?? Data())
            var block = [
                RedisCommand("LPUSH", RedisArgument(keys.dead), RedisArgument(bytes: bytes)),
                RedisCommand("LTRIM", RedisArgument(keys.dead), 0, RedisArgument(settings.worker.deadLetterMaxLength - 1)),
            ]
            if let replyTo {
                let result = JobResult.failure(id: jobID ?? "", code: history.isEmpty ? "invalid_job" : "poison_job", message: reason)
                let bytes = result.jsonBytes()
                if let flightKey, let jobID, let template = SingleFlight.followerTemplate(result) {
                    plan.flight = GuardedCommit.FlightRelease(
                        key: flightKey, jobID: jobID, promote: false, head: template.head, tail: template.tail, savedUSD: 0)
                }
                if let group, let jobID {
                    plan.group = GuardedCommit.GroupRecord(key: keys.group(group), child: jobID, outcome: "failed", result: bytes)
                }
                block.append(RedisCommand("LPUSH", RedisArgument(replyTo), RedisArgument(bytes: bytes)))
                block.append(RedisCommand("EXPIRE", RedisArgument(replyTo), replyTTL))
                if let jobID {
                    block.append(RedisCommand("PUBLISH", RedisArgument(keys.replyEvents), RedisArgument(bytes: bytes)))
                    // Whether the job was streamed cannot always be read from a dead payload: its
                    // stream gets the end anyway (a small key with the reply's TTL), so that a
                    // streaming client is not left waiting for its deadline.
                    block += StreamEntry.endCommands(key: keys.stream(jobID), ttlSeconds: settings.redis.replyTTLSeconds, result: bytes)
                }
            }
            if let jobID, replyTo != nil {
                plan.guardKey = keys.done(jobID)
                plan.guardTTLSeconds = guardTTL(nil)
                plan.first = block
            } else {
                plan.always.insert(contentsOf: block, at: 0)
            }
        }
        return plan
    }

    /// The set a group child's result counts in.
    static func groupOutcome(_ result: JobResult) -> String {
        if result.ok { return "succeeded" }
        return result.error?.code == "cancelled" ? "cancelled" : "failed"
    }
}
