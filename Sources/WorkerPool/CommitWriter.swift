import ControlPlane
import JobProtocol
import Logging
import RedisClient
import Settings

/// Writes what a worker decided about the jobs it holds: a job's commit (its outcome and the
/// LREM off the processing list, atomically), or an unfinished job handed back to its queue.
///
/// The reaper and the probation supervisor write through the same writer, so every way a job
/// leaves a processing list goes through these three functions.
struct CommitWriter: Sendable {
    let connection: RedisConnection
    let keys: KeySpace
    let settings: CervellaSettings
    /// The worker writing: the owner of the processing lists its own jobs are in, and the
    /// owner recorded in a done guard it sets.
    let owner: String
    /// Counted outcomes, added once a commit was written.
    let stats: StatsAccumulator
    let logger: Logger
    /// True once the worker is shutting down: a commit then gives up after a few tries.
    let isStopping: @Sendable () -> Bool

    /// Writes the outcome and removes the job from the processing list in one atomic step.
    ///
    /// While Redis is unreachable the commit is retried with capped backoff for as long as the
    /// worker runs: this worker's heartbeat stops with Redis too, but comes back with it, so
    /// the reaper would never take the job back from a live worker, and giving up here would
    /// strand it. The done guard makes a retry safe when a commit's reply was lost. Only when
    /// stopping does it give up (after a few tries): the process then exits, its heartbeat
    /// expires, and the reaper recovers the job.
    func write(_ commit: JobCommit, fetched: FetchedJob) async {
        await write(commit, plan: commit.plan(keys: keys, settings: settings, fetched: fetched, worker: owner), queue: fetched.queue)
    }

    /// Writes a commit whose plan the caller made: a Message Batch result's, which takes the
    /// job out of its batch's entries instead of a processing list (`MessageBatcher`).
    func write(_ commit: JobCommit, plan: JobCommit.Plan, queue: QueueName) async {
        var attempt = 0
        while true {
            do {
                let (first, followers) = try await execute(plan)
                if first {
                    stats.add(commit.stats)
                    if followers > 0, let flight = plan.flight {
                        stats.add(Array(repeating: .coalesced(savedUSD: flight.savedUSD), count: followers))
                        WorkerMetrics.coalesced(followers)
                    }
                    WorkerMetrics.observe(commit, queue: queue, settings: settings)
                } else {
                    stats.add([.duplicate])
                    WorkerMetrics.duplicate()
                    logger.warning(
                        "job was already answered by another worker; this answer is dropped",
                        metadata: [
                            "cervella.queue": "\(queue.rawValue)",
                            "cervella.job.id": "\(plan.guardKey.flatMap(keys.jobID(fromDoneKey:)) ?? "-")",
                        ])
                }
                return
            } catch {
                attempt += 1
                if isStopping() && attempt >= 5 {
                    logger.error(
                        "cannot commit the job's outcome while stopping; it stays in the processing list for the reaper",
                        metadata: ["cervella.error": "\(error)"])
                    return
                }
                if attempt & (attempt - 1) == 0 {
                    logger.error(
                        "cannot commit a job's outcome; retrying until Redis is back",
                        metadata: ["cervella.error": "\(error)", "cervella.attempt": "\(attempt)"])
                }
                try? await Task.sleep(for: .milliseconds(min(2_000, 50 << min(attempt, 6))))
            }
        }
    }

    /// Runs a commit plan: guarded by the job's done key when it has one, else one MULTI/EXEC.
    /// Returns whether this was the first finisher (false when another worker had already
    /// answered the job) and how many single-flight followers its result answered.
    func execute(_ plan: JobCommit.Plan) async throws -> (first: Bool, followers: Int) {
        guard let guardKey = plan.guardKey else {
            _ = try await connection.transaction(plan.first + plan.always, replicated: true)
            return (true, 0)
        }
        let arguments = GuardedCommit.arguments(
            ttlSeconds: plan.guardTTLSeconds, owner: owner, first: plan.first, always: plan.always, group: plan.group,
            budget: plan.budget.map { (keys.prefix, $0) }, flight: plan.flight, keys: keys, replyTTLSeconds: settings.redis.replyTTLSeconds)
        let reply = try await connection.evaluate(GuardedCommit.script, keys: [RedisArgument(guardKey)], arguments: arguments, replicated: true)
        let values = reply.array ?? []
        return (values.first?.integer == 1, max(0, values.count > 1 ? values[1].integer ?? 0 : 0))
    }

    /// Puts an unfinished job back at the head of its queue (the end workers pop from).
    func handBack(_ fetched: FetchedJob) async {
        let payload = RedisArgument(bytes: fetched.payload)
        do {
            _ = try await connection.transaction([
                RedisCommand("LREM", RedisArgument(keys.processing(fetched.queue, worker: owner)), 1, payload),
                RedisCommand("RPUSH", RedisArgument(keys.queue(fetched.queue)), payload),
            ])
            logger.info("unfinished job handed back to its queue", metadata: ["cervella.queue": "\(fetched.queue.rawValue)"])
        } catch {
            logger.error("cannot hand the job back; it stays in the processing list for recovery", metadata: ["cervella.error": "\(error)"])
        }
    }
}
