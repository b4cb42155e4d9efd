import Foundation
import JobProtocol
import Logging
import RedisClient
import Synchronization

/// A worker's fetch loops, one per served queue, and the ledger of the payloads they took.
///
/// Each loop takes slots, moves jobs from its queue to the worker's processing list in one
/// round trip, and delivers them to the worker. The ledger (`held`) says which payloads in the
/// processing lists this process really holds, so that `reconcile` can tell a stray (a move
/// whose reply was lost) from a job being run, and hand only the stray back.
final class Fetcher: Sendable {
    struct Context: Sendable {
        var redis: RedisConfiguration
        var keys: KeySpace
        var owner: String
        var blockTimeoutSeconds: Double
        /// A probation process stops once its queue (the quarantine) is empty.
        var stopWhenEmpty: Bool
        var traffic: RedisTraffic
        var logger: Logger
    }

    private let context: Context
    private let slots: SlotPool
    private let inFlight: InFlightCounter
    private let writer: CommitWriter
    private let held = Mutex<[QueueName: [Payload: Int]]>([:])

    init(context: Context, slots: SlotPool, inFlight: InFlightCounter, writer: CommitWriter) {
        self.context = context
        self.slots = slots
        self.inFlight = inFlight
        self.writer = writer
    }

    private var keys: KeySpace { context.keys }
    private var logger: Logger { context.logger }

    /// Moves up to ARGV[1] jobs from the queue (KEYS[1]) to the processing list (KEYS[2]) in
    /// one round trip, as BLMOVE would one at a time.
    static let fetchScript = RedisScript(
        """
        local jobs = {}
        for i = 1, tonumber(ARGV[1]) do
          local job = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
          if not job then break end
          jobs[i] = job
        end
        return jobs
        """)

    /// The most jobs one fetch takes: enough to amortise the round trip, few enough that one
    /// worker does not take a burst that idle peers could have shared.
    static let fetchBatchLimit = 64

    /// How often a bulk lane's loop looks at its empty lane.
    static let bulkPollInterval = Duration.milliseconds(200)

    /// Runs one fetch loop per queue, the first queue with the first claim on a free slot,
    /// until the worker stops; then finishes `delivery`. `onEmpty` is called when a loop with
    /// `stopWhenEmpty` found its queue empty.
    func run(queues: [QueueName], delivery: AsyncStream<FetchedJob>.Continuation, onEmpty: @escaping @Sendable () -> Void) async {
        await withDiscardingTaskGroup { fetchers in
            for (priority, queue) in queues.enumerated() {
                fetchers.addTask { await self.fetchLoop(queue: queue, priority: priority, delivery: delivery, onEmpty: onEmpty) }
            }
        }
        delivery.finish()
    }

    /// Takes a slot, then as many more as are free (up to `fetchBatchLimit`), and moves that
    /// many jobs in one round trip. When the queue turned out empty it blocks for one job for
    /// a short while, so shutdown is seen within `blockTimeoutSeconds` (Sidekiq's TIMEOUT = 2).
    ///
    /// A bulk lane's loop never blocks: it fetches over the worker's command connection and,
    /// when its lane is empty, gives its slot back and looks again after `bulkPollInterval`.
    /// Bulk jobs can wait that long; a blocking pop would cost a connection (and a held slot)
    /// per lane per worker, and every reaper's `CLIENT LIST` reads every connection.
    private func fetchLoop(queue: QueueName, priority: Int, delivery: AsyncStream<FetchedJob>.Continuation, onEmpty: @Sendable () -> Void) async {
        let bulk = queue.isBulk
        let connection =
            bulk
            ? writer.connection
            : RedisConnection(
                configuration: context.redis, name: keys.connectionName(worker: context.owner, role: "fetch-\(queue.rawValue)"),
                logger: logger, traffic: context.traffic
            )
        defer { if !bulk { connection.close() } }
        let source = keys.queue(queue)
        let processing = keys.processing(queue, worker: context.owner)
        let block = RedisArgument(String(context.blockTimeoutSeconds))
        var failures = 0
        var reconcileNeeded = true
        var queueLooksEmpty = false
        fetching: while !writer.isStopping() {
            if reconcileNeeded {
                // Registered before the first fetch, so the reaper finds the list if this
                // worker dies holding jobs.
                let registered = (try? await connection.send("SADD", RedisArgument(keys.processingLists), RedisArgument(processing))) != nil
                reconcileNeeded = !registered
                if registered { reconcileNeeded = await !reconcile(queue, connection: connection) }
            }
            if bulk && queueLooksEmpty {
                // Nothing in the lane at the last look: wait without a slot, then look again.
                try? await Task.sleep(for: Self.bulkPollInterval)
                queueLooksEmpty = false
                if writer.isStopping() { break }
            }
            guard await slots.acquire(priority: priority, bulk: bulk, idle: queueLooksEmpty) else { break }
            let taken = 1 + (queueLooksEmpty ? 0 : slots.tryAcquire(upTo: Self.fetchBatchLimit - 1, bulk: bulk))
            do {
                var payloads: [[UInt8]]
                if queueLooksEmpty {
                    payloads =
                        try await connection.send("BLMOVE", RedisArgument(source), RedisArgument(processing), "RIGHT", "LEFT", block).bytes.map {
                            [$0]
                        } ?? []
                } else {
                    let reply = try await connection.evaluate(
                        Self.fetchScript, keys: [RedisArgument(source), RedisArgument(processing)], arguments: [RedisArgument(taken)])
                    payloads = reply.array?.compactMap(\.bytes) ?? []
                }
                failures = 0
                // An empty non-blocking fetch switches to the blocking pop; a blocking pop that
                // found a job switches back to batches.
                queueLooksEmpty = payloads.isEmpty
                slots.release(taken - payloads.count, bulk: bulk)
                if payloads.isEmpty, context.stopWhenEmpty {
                    onEmpty()
                    break fetching
                }
                let poppedAt = Date().timeIntervalSince1970
                let fetched = payloads.map { FetchedJob(queue: queue, payload: $0, poppedAt: poppedAt) }
                for job in fetched { hold(job) }
                if await !deliver(fetched, to: delivery) {
                    break fetching
                }
            } catch {
                slots.release(taken, bulk: bulk)
                // The fetch may have run with its reply lost: the jobs would sit in this live
                // worker's processing list, where no reaper looks. Check once Redis is back.
                reconcileNeeded = true
                failures += 1
                let wait = min(5_000, 100 * (1 << min(failures, 6)))
                logger.error("cannot fetch from \(source); retrying", metadata: ["cervella.error": "\(error)", "cervella.retry_ms": "\(wait)"])
                try? await Task.sleep(for: .milliseconds(wait))
            }
        }
    }

    /// Hands each job to the worker; false when the worker is stopping, in which case this
    /// job and the rest of the batch went back to the head of their queue.
    private func deliver(_ fetched: [FetchedJob], to delivery: AsyncStream<FetchedJob>.Continuation) async -> Bool {
        for (index, job) in fetched.enumerated() {
            // A fetch that was already running when shutdown began can still return jobs
            // (even ones the drain just handed back): they go straight back, never dropped.
            if !writer.isStopping() {
                inFlight.increment()
                if case .terminated = delivery.yield(job) {
                    inFlight.decrement()
                } else {
                    continue
                }
            }
            for rest in fetched[index...] {
                slots.release(bulk: rest.queue.isBulk)
                await writer.handBack(rest)
                release(rest)
            }
            return false
        }
        return true
    }

    private func hold(_ fetched: FetchedJob) {
        held.withLock { $0[fetched.queue, default: [:]][Payload(fetched.payload), default: 0] += 1 }
    }

    /// Called when the worker is done with a job (committed or handed back).
    func release(_ fetched: FetchedJob) {
        held.withLock { held in
            let key = Payload(fetched.payload)
            let count = (held[fetched.queue]?[key] ?? 1) - 1
            held[fetched.queue]?[key] = count > 0 ? count : nil
        }
    }

    /// Hands back any job in this worker's own processing list for `queue` that the process
    /// does not hold: one whose move ran while its reply was lost to a dropped connection (the
    /// only way a live worker's list gets a stray). Runs at start (a restarted worker with the
    /// same id) and after fetch errors; returns false when Redis was unreachable.
    private func reconcile(_ queue: QueueName, connection: RedisConnection) async -> Bool {
        guard let listed = try? await connection.send("LRANGE", RedisArgument(keys.processing(queue, worker: context.owner)), 0, -1).array else {
            return false
        }
        var remaining = held.withLock { $0[queue] ?? [:] }
        for payload in listed.compactMap(\.bytes) {
            if let count = remaining[Payload(payload)], count > 0 {
                remaining[Payload(payload)] = count - 1
                continue
            }
            logger.warning(
                "found a job in this worker's processing list that it does not hold; handing it back",
                metadata: ["cervella.queue": "\(queue.rawValue)"])
            await writer.handBack(FetchedJob(queue: queue, payload: payload, poppedAt: Date().timeIntervalSince1970))
        }
        return true
    }
}

/// A payload as a dictionary key. `[UInt8]`'s own hash feeds the hasher byte by byte, which
/// showed up in profiles at thousands of jobs a second; this one hashes the length and the
/// first 64 bytes (where a job's `id` is) as one block. Equality still compares every byte.
struct Payload: Hashable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.count)
        bytes.withUnsafeBytes { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0.prefix(64))) }
    }
}

/// A job popped into this worker's processing list, as the exact bytes that are there.
struct FetchedJob: Sendable {
    var queue: QueueName
    var payload: [UInt8]
    var poppedAt: Double
}
