import ControlPlane
import Foundation
import JobProtocol
import Logging
import Producer
import RedisClient
import Settings

/// Takes jobs back from workers that died holding them.
///
/// Every worker runs this loop, but only the holder of a short lease (`SET NX PX`) scans, so
/// two reapers never move the same list. A processing list whose worker has no heartbeat key
/// (it expired: the worker is gone) has each job moved to the quarantine with its recovery
/// recorded, where a probation process runs it alone (`ProbationSupervisor`): a job that
/// crashes the process running it takes one worker, never the pool.
///
/// A killed worker process is seen by its closed connections (`Reaper+Liveness.swift`): its
/// jobs are quarantined within one scan (1 s by default; two when it held the lease) plus
/// 0.75 s. A lost host is seen when its heartbeat expires (15 s TTL) plus a scan. A live
/// worker is never reclaimed, however long its provider call: its heartbeat runs on its own
/// schedule.
struct Reaper: Sendable {
    /// The live worker's writer: its connection, and the commit path for retired jobs.
    let writer: CommitWriter
    /// Recoveries after which a job is declared poison.
    static let maxRecoveries = 3

    var keys: KeySpace { writer.keys }

    /// Moves one job back only if it was still in the dead worker's list, so that two reapers
    /// (a lease that expired mid-sweep) can never queue it twice.
    static let moveBack = RedisScript(
        """
        if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
          redis.call('RPUSH', KEYS[2], ARGV[2])
          return 1
        end
        return 0
        """)

    /// Drops a processing list from the registry if it is empty (its worker is dead).
    static let forget = RedisScript(
        """
        if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], KEYS[1]) end
        return 0
        """)

    /// Sweeps between two keyspace scans (the safety net for unregistered lists).
    static let sweepsPerScan = 150

    func run(interval: Duration) async {
        var sweeps = 0
        await repeatEvery(interval) {
            do {
                try await sweepIfLeaseHolder(lease: interval, scanKeyspace: sweeps % Self.sweepsPerScan == 0)
                sweeps += 1
            } catch {
                writer.logger.warning("reaper pass failed; will retry", metadata: ["cervella.error": "\(error)"])
            }
        }
    }

    /// The lease lasts one interval, so some worker sweeps every interval (not every 5 s).
    func sweepIfLeaseHolder(lease: Duration, scanKeyspace: Bool = false) async throws {
        let milliseconds = max(200, lease.wholeMilliseconds)
        let acquired = try await writer.connection.send(
            "SET", RedisArgument(keys.reaperLease), RedisArgument(writer.owner), "NX", "PX", RedisArgument(milliseconds))
        guard acquired == .status("OK") else { return }
        _ = try await sweep(scanKeyspace: scanKeyspace)
    }

    /// One pass over every registered processing list (and, with `scanKeyspace`, over every
    /// processing list in the keyspace, which finds lists that predate the registry); returns
    /// the number of jobs moved. A dead worker's list that ends up empty leaves the registry.
    @discardableResult
    func sweep(scanKeyspace: Bool = false) async throws -> Int {
        var moved = 0
        let registered = try await writer.connection.send("SMEMBERS", RedisArgument(keys.processingLists)).array?.compactMap(\.string) ?? []
        let lists = registered.compactMap { key in keys.processingList(fromKey: key).map { (key: key, queue: $0.queue, owner: $0.worker) } }
            .filter { $0.owner != writer.owner }
        let dead = try await deadOwners(of: lists)
        for list in lists where dead[list.owner] != nil {
            moved += try await reclaim(list.key, queue: list.queue, owner: list.owner, registered: true, because: dead[list.owner] ?? "")
        }
        guard scanKeyspace else { return moved }
        let known = Set(registered)
        var cursor = "0"
        repeat {
            let reply = try await writer.connection.send("SCAN", RedisArgument(cursor), "MATCH", RedisArgument(keys.processingPattern), "COUNT", 1000)
            guard let parts = reply.array, parts.count == 2 else { break }
            cursor = parts[0].string ?? "0"
            for key in parts[1].array?.compactMap(\.string) ?? [] where !known.contains(key) {
                moved += try await reclaimIfOrphaned(key, registered: false)
            }
        } while cursor != "0"
        return moved
    }

    /// The keyspace scan's check: heartbeats only (the registry's lists get the faster one).
    private func reclaimIfOrphaned(_ key: String, registered: Bool) async throws -> Int {
        guard let (queue, owner) = keys.processingList(fromKey: key), owner != writer.owner else { return 0 }
        let alive = try await writer.connection.send("EXISTS", RedisArgument(keys.worker(owner)))
        guard alive.integer == 0 else { return 0 }
        return try await reclaim(key, queue: queue, owner: owner, registered: registered, because: "heartbeat expired")
    }

    private func reclaim(_ key: String, queue: QueueName, owner: String, registered: Bool, because: String) async throws -> Int {
        let payloads = try await writer.connection.send("LRANGE", RedisArgument(key), 0, -1).array?.compactMap(\.bytes) ?? []
        for payload in payloads {
            try await reclaim(payload, from: key, queue: queue, owner: owner)
        }
        if registered {
            // Forget the list only once it is empty: a worker restarted with the same id
            // registers it again before it fetches.
            _ = try await writer.connection.evaluate(Self.forget, keys: [RedisArgument(key), RedisArgument(keys.processingLists)], arguments: [])
        }
        if !payloads.isEmpty {
            writer.logger.notice(
                "recovered jobs from a dead worker",
                metadata: [
                    "cervella.dead_worker": "\(owner)", "cervella.queue": "\(queue.rawValue)", "cervella.jobs": "\(payloads.count)",
                    "cervella.because": "\(because)",
                ])
        }
        return payloads.count
    }

    /// A dead worker's job goes to the quarantine with its recovery recorded: it may be what
    /// killed the worker, so no worker takes it again; a probation process runs it alone. One
    /// that was already running alone (a quarantine list), or that has been recovered
    /// `maxRecoveries` times, is retired as poison.
    private func reclaim(_ payload: [UInt8], from key: String, queue: QueueName, owner: String) async throws {
        guard case .success(var job) = JobDecoding.decode(payload, keys: keys) else {
            // Malformed jobs never reach a processing list alive, but a foreign writer might.
            try await retire(payload, from: key, queue: queue, owner: owner, reason: "unreadable job recovered from dead worker \(owner)")
            return
        }
        if queue == .quarantine {
            try await retire(
                payload, from: key, queue: queue, owner: owner, reason: "poison job: its worker died while running it alone; not retried again")
            return
        }
        job.recoveries.append(Recovery(worker: owner, at: Date().timeIntervalSince1970, queue: queue.rawValue))
        job.attempt = min(job.attempt + 1, JobLimits.attempts.upperBound)
        if job.recoveries.count >= Self.maxRecoveries {
            try await retire(
                payload, from: key, queue: queue, owner: owner,
                reason: "poison job: \(job.recoveries.count) workers died while holding it; not retried again", job: job)
            return
        }
        if try await moveBack(payload, from: key, to: .quarantine, updated: job.jsonBytes()) {
            writer.stats.add([.recovered(count: 1)])
            writer.logger.notice(
                "job of a dead worker held in quarantine until a probation process runs it alone",
                metadata: [
                    "cervella.job.id": "\(job.id)", "cervella.dead_worker": "\(owner)",
                ])
        }
    }

    /// Moves `payload` out of `key` (if it is still there) and pushes `updated` to the head of
    /// `queue`, the end workers pop from; true when it moved.
    @discardableResult
    func moveBack(_ payload: [UInt8], from key: String, to queue: QueueName, updated: [UInt8]) async throws -> Bool {
        let moved = try await writer.connection.evaluate(
            Self.moveBack, keys: [RedisArgument(key), RedisArgument(keys.queue(queue))],
            arguments: [RedisArgument(bytes: payload), RedisArgument(bytes: updated)]
        )
        return moved.integer == 1
    }

    /// Sends a held job to the dead letter list with its history, and an error result to its
    /// producer when its reply key can be read: `poison_job` once a worker died of it.
    func retire(_ payload: [UInt8], from key: String, queue: QueueName, owner: String, reason: String, job: Job? = nil) async throws {
        let fetched = FetchedJob(queue: queue, payload: payload, poppedAt: Date().timeIntervalSince1970)
        var job = job
        if job == nil, case .success(let decoded) = JobDecoding.decode(payload, keys: keys) { job = decoded }
        var history = (job?.recoveries ?? []).map { "worker \($0.worker) died holding it (queue \($0.queue), at \(Int(saturating: $0.at)))" }
        // A recovery from a work queue is already in `recoveries`; a probation process is not.
        if queue == .quarantine { history.append("\(owner) died running it alone (queue quarantine)") }
        var commit = JobCommit(
            outcome: .dead(reason: reason, replyTo: job?.replyTo, jobID: job?.id, history: history, group: job?.group), stats: [.dead])
        // Identical requests waiting on a poison job get its error: they would poison a worker too.
        if let job, SingleFlight.isEligible(job, settings: writer.settings) { commit.flightKey = keys.flight(CacheKey.digest(for: job)) }
        if try await writer.execute(commit.plan(keys: keys, settings: writer.settings, fetched: fetched, worker: owner)).first {
            writer.stats.add(commit.stats)
        }
        writer.logger.warning(
            "poison job sent to the dead letter list", metadata: ["cervella.job.id": "\(job?.id ?? "-")", "cervella.reason": "\(reason)"])
    }
}
