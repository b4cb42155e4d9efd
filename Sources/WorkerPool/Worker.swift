import ControlPlane
import CurlHTTP
import Foundation
import JobProtocol
import Logging
import Providers
import RedisClient
import ServiceLifecycle
import Settings
import Synchronization

/// One worker process's pool: fetchers pop jobs into this worker's processing lists, each job
/// runs as a child task, and a heartbeat says the worker is alive.
///
/// Shutdown (SIGTERM through ServiceLifecycle, or `requestShutdown()`): fetchers stop taking
/// jobs at once; jobs in flight get `drainTimeoutSeconds` to finish; what is left is cancelled
/// and handed back to the head of its queue, so nothing waits for a dead worker's recovery.
public final class Worker: Service, Sendable {
    public let id: String
    let settings: CervellaSettings
    let keys: KeySpace
    let queues: [QueueName]
    let concurrency: Int
    let logger: Logger
    let redisConfiguration: RedisConfiguration
    let commands: RedisConnection
    /// Every Redis command and round trip of this worker, reported in its heartbeat.
    public let traffic = RedisTraffic()
    let http: HTTPClient
    let providers: [Int: any ChatProvider]
    let slots: SlotPool
    let retryPolicy = RetryPolicy()
    /// Counted outcomes, written to the hourly stats every `worker.stats_flush_seconds`.
    let stats = StatsAccumulator()
    /// The operator's live switches; a disabled tier's jobs go straight to Claude.
    let live: LiveConfigWatcher
    private let stopping = Mutex(false)
    /// Jobs being processed (slots also count fetchers waiting on an empty queue).
    let inFlight = InFlightCounter()
    /// The payloads this process holds, per queue, to tell them from strays in its own
    /// processing lists (see `reconcile`).
    let held = Mutex<[QueueName: [Payload: Int]]>([:])
    private let shutdownSignal: AsyncStream<Void>
    private let shutdownContinuation: AsyncStream<Void>.Continuation
    /// What this process is: a worker, or a probation process of one.
    let role: Role
    /// Starts probation processes for quarantined jobs; nil leaves the quarantine to other
    /// workers (an in-process worker in a program that is not `cervella`).
    let probation: ProbationLauncher?
    /// Set from `CERVELLA_FAULT_INJECTION=crash`: a job whose metadata has
    /// `"cervella_fault": "crash"` makes this process trap, as a job hitting a bug would.
    /// For the tests of poison-job containment only.
    let crashOnFaultJobs: Bool

    public enum Role: Sendable {
        case worker
        /// Serves only the quarantine, one job at a time, and exits when it is empty; runs no
        /// reaper and no probation processes of its own.
        case probation
    }

    public init(
        settings: CervellaSettings, queues: [QueueName]? = nil, concurrency: Int? = nil, id: String = WorkerIdentity.current(),
        role: Role = .worker, probation: ProbationLauncher? = nil, logger: Logger
    ) throws {
        self.id = id
        self.settings = settings
        self.keys = KeySpace(prefix: settings.redis.keyPrefix)
        self.role = role
        self.probation = role == .worker ? probation : nil
        self.crashOnFaultJobs = ProcessInfo.processInfo.environment["CERVELLA_FAULT_INJECTION"] == "crash"
        if role == .probation {
            self.queues = [.quarantine]
            self.concurrency = 1
        } else {
            self.queues = queues ?? settings.worker.queues.compactMap(QueueName.init(rawValue:))
            self.concurrency = concurrency ?? settings.worker.concurrency
        }
        var logger = logger
        logger[metadataKey: "cervella.worker"] = "\(id)"
        self.logger = logger
        var configuration = try RedisConfiguration(url: settings.redis.url)
        // A blocking pop must never look like a dead server: the read timeout exceeds it.
        configuration.readTimeout = .seconds(saturating: settings.worker.blockTimeoutSeconds) + .seconds(10)
        self.redisConfiguration = configuration
        // Named after this worker, so that the reaper sees at once when its connections close.
        self.commands = RedisConnection(
            configuration: configuration, name: KeySpace(prefix: settings.redis.keyPrefix).connectionName(worker: id, role: "commands"),
            logger: logger, traffic: traffic
        )
        // Every slot may hold a provider call; curl would queue calls beyond the connection caps.
        let slotCount = max(1, self.concurrency)
        self.http = try HTTPClient(
            configuration: .init(maxConnectionsPerHost: max(64, slotCount), maxTotalConnections: max(512, slotCount * 2)),
            logger: logger
        )
        var providers: [Int: any ChatProvider] = [:]
        for tier in 1...3 { providers[tier] = ProviderFactory.make(settings.tier(tier), http: http) }
        self.providers = providers
        self.slots = SlotPool(capacity: slotCount)
        self.live = LiveConfigWatcher(settings: settings, connection: commands, logger: logger)
        (shutdownSignal, shutdownContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    /// Stops fetching and starts the drain; `run()` returns once the drain is over.
    public func requestShutdown() {
        let first = stopping.withLock { stopping in
            defer { stopping = true }
            return !stopping
        }
        guard first else { return }
        logger.info("worker stopping: no new jobs, draining in-flight ones", metadata: ["cervella.in_flight": "\(inFlight.value)"])
        slots.close()
        shutdownContinuation.yield()
        shutdownContinuation.finish()
    }

    var isStopping: Bool { stopping.withLock { $0 } }

    public func run() async throws {
        logger.info("worker started", metadata: [
            "cervella.queues": "\(queues.map(\.rawValue).joined(separator: ","))",
            "cervella.concurrency": "\(concurrency)", "cervella.redis": "\(redisConfiguration.redactedDescription)",
        ])
        defer {
            commands.close()
            http.shutdown()
        }
        try await withGracefulShutdownHandler {
            try await runUntilDrained()
        } onGracefulShutdown: {
            self.requestShutdown()
        }
        logger.info("worker stopped")
    }

    /// Warns when Redis is set up in a way that can lose queued jobs (docs/RELIABILITY.md).
    private func checkRedisDurability() async {
        guard let replies = try? await commands.pipeline([
            RedisCommand("CONFIG", "GET", "maxmemory-policy"), RedisCommand("CONFIG", "GET", "appendonly"),
        ]) else { return }
        // CONFIG may be disabled (managed Redis); then there is nothing to check.
        let policy = replies[0].array?.last?.string
        let appendOnly = replies[1].array?.last?.string
        if let policy, policy != "noeviction" {
            logger.warning("Redis maxmemory-policy is '\(policy)': under memory pressure Redis may evict queued jobs and replies; set maxmemory-policy noeviction")
        }
        if let appendOnly, appendOnly != "yes" {
            logger.warning("Redis has AOF off (appendonly no): a Redis restart loses every queued job since the last snapshot; set appendonly yes")
        }
    }

    private func runUntilDrained() async throws {
        let (fetched, delivery) = AsyncStream.makeStream(of: FetchedJob.self)
        // Jobs run in their own task so that the drain deadline can cancel them and nothing else.
        let jobs = Task {
            await withDiscardingTaskGroup { group in
                for await job in fetched {
                    group.addTask { await self.process(job) }
                }
            }
        }
        await live.refresh()
        await checkRedisDurability()
        await withTaskGroup(of: Void.self) { group in
            let reaperInterval = Duration.seconds(saturating: self.settings.worker.reaperIntervalSeconds)
            group.addTask { await self.heartbeatLoop() }
            group.addTask { await self.live.run() }
            if role == .worker {
                group.addTask { await Reaper(worker: self).run(interval: reaperInterval) }
                group.addTask { await self.healthLoop(interval: .seconds(5)) }
            }
            if let probation {
                group.addTask { await ProbationSupervisor(worker: self, launcher: probation).run(interval: reaperInterval) }
            }
            group.addTask { await self.statsLoop() }
            group.addTask {
                await withDiscardingTaskGroup { fetchers in
                    for (priority, queue) in self.queues.enumerated() {
                        fetchers.addTask { await self.fetchLoop(queue: queue, priority: priority, delivery: delivery) }
                    }
                }
                delivery.finish()
            }
            group.addTask {
                // The drain deadline starts when shutdown is requested.
                for await _ in self.shutdownSignal {}
                guard self.isStopping else { return }
                _ = await self.inFlight.waitUntilIdle(timeout: .seconds(saturating: self.settings.worker.drainTimeoutSeconds))
                let left = self.inFlight.value
                if left > 0 {
                    self.logger.warning("drain timeout reached; handing unfinished jobs back to their queues", metadata: ["cervella.in_flight": "\(left)"])
                    jobs.cancel()
                }
            }
            await jobs.value
            // Jobs are done: stop the heartbeat and the drain timer.
            group.cancelAll()
        }
        await flushStats(final: true)
        _ = try? await commands.send("DEL", RedisArgument(keys.worker(id)))
    }

    private func statsLoop() async {
        let interval = Duration.seconds(saturating: settings.worker.statsFlushSeconds)
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flushStats(final: false)
        }
    }

    /// Adds the counted statistics to the hourly hashes; at shutdown, tries a few times.
    func flushStats(final: Bool) async {
        for attempt in 1...(final ? 3 : 1) {
            do {
                try await stats.flush(to: commands, keys: keys)
                return
            } catch {
                if final && attempt == 3 || !final {
                    logger.warning("cannot write statistics; they are kept for the next flush", metadata: ["cervella.error": "\(error)"])
                }
                if final { try? await Task.sleep(for: .milliseconds(200)) }
            }
        }
    }

    /// Refreshes `worker:<id>` with a TTL on its own schedule, independent of provider calls.
    private func heartbeatLoop() async {
        let interval = settings.worker.heartbeatIntervalSeconds
        while !Task.isCancelled {
            // `named_connections`: the reaper may judge this worker by its connections (Reaper).
            let info = "{\"queues\":\"\(queues.map(\.rawValue).joined(separator: ","))\",\"in_flight\":\(inFlight.value),\"concurrency\":\(concurrency),\"redis_commands\":\(traffic.commands),\"redis_round_trips\":\(traffic.roundTrips),\"named_connections\":true,\"at\":\(Date().timeIntervalSince1970)}"
            do {
                try await commands.send("SET", RedisArgument(keys.worker(id)), RedisArgument(info), "EX", RedisArgument(settings.worker.heartbeatTTLSeconds))
            } catch {
                logger.error("heartbeat failed; Redis unreachable?", metadata: ["cervella.error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(saturating: interval))
        }
    }

    /// Probes the served tiers' endpoints (vLLM's `/health`) and publishes this worker's view of
    /// each tier's health, which `cervella admin stats` reports as the models' health.
    private func healthLoop(interval: Duration) async {
        let tiers = Set(queues.map(\.servingTier)).sorted()
        while !Task.isCancelled {
            var fields: [RedisArgument] = [RedisArgument(keys.health)]
            for tier in tiers {
                guard let provider = providers[tier] else { continue }
                await provider.health.probe(http: http, timeout: .seconds(2))
                for status in provider.health.snapshot() { WorkerMetrics.endpoint(tier: tier, status) }
                let endpoints: [[String: Any]] = provider.health.snapshot().map { status in
                    ["endpoint": status.endpoint, "state": status.state, "consecutive_failures": status.consecutiveFailures, "last_error": status.lastError ?? NSNull()]
                }
                let entry: [String: Any] = [
                    "model": provider.model, "state": provider.health.modelHealth(), "at": Date().timeIntervalSince1970, "endpoints": endpoints,
                ]
                if let data = try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys]) {
                    fields += [RedisArgument("tier\(tier):\(id)"), RedisArgument(bytes: Array(data))]
                }
            }
            var writes: [RedisCommand] = queues.map { RedisCommand("LLEN", RedisArgument(keys.queue($0))) }
            if fields.count > 1 {
                writes += [RedisCommand("HSET", arguments: fields), RedisCommand("EXPIRE", RedisArgument(keys.health), 120)]
            }
            if let replies = try? await commands.pipeline(writes) {
                for (queue, depth) in zip(queues, replies) { WorkerMetrics.queueDepth(queue, depth.integer ?? 0) }
            }
            WorkerMetrics.inFlight(inFlight.value)
            try? await Task.sleep(for: interval)
        }
    }

    /// Moves up to ARGV[1] jobs from the queue (KEYS[1]) to the processing list (KEYS[2]) in
    /// one round trip, as BLMOVE would one at a time.
    static let fetchScript = RedisScript("""
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

    /// Takes a slot, then as many more as are free (up to `fetchBatchLimit`), and moves that
    /// many jobs in one round trip. When the queue turned out empty it blocks for one job for
    /// a short while, so shutdown is seen within `blockTimeoutSeconds` (Sidekiq's TIMEOUT = 2).
    private func fetchLoop(queue: QueueName, priority: Int, delivery: AsyncStream<FetchedJob>.Continuation) async {
        let connection = RedisConnection(configuration: redisConfiguration, name: keys.connectionName(worker: id, role: "fetch-\(queue.rawValue)"), logger: logger, traffic: traffic)
        defer { connection.close() }
        let source = keys.queue(queue)
        let processing = keys.processing(queue, worker: id)
        let block = RedisArgument(String(settings.worker.blockTimeoutSeconds))
        var failures = 0
        var reconcileNeeded = true
        var queueLooksEmpty = false
        fetching: while !isStopping {
            if reconcileNeeded {
                // Registered before the first fetch, so the reaper finds the list if this
                // worker dies holding jobs.
                let registered = (try? await connection.send("SADD", RedisArgument(keys.processingLists), RedisArgument(processing))) != nil
                reconcileNeeded = !registered
                if registered { reconcileNeeded = await !reconcile(queue, connection: connection) }
            }
            guard await slots.acquire(priority: priority) else { break }
            let taken = 1 + (queueLooksEmpty ? 0 : slots.tryAcquire(upTo: Self.fetchBatchLimit - 1))
            do {
                var payloads: [[UInt8]]
                if queueLooksEmpty {
                    payloads = try await connection.send("BLMOVE", RedisArgument(source), RedisArgument(processing), "RIGHT", "LEFT", block).bytes.map { [$0] } ?? []
                } else {
                    let reply = try await connection.evaluate(Self.fetchScript, keys: [RedisArgument(source), RedisArgument(processing)], arguments: [RedisArgument(taken)])
                    payloads = reply.array?.compactMap(\.bytes) ?? []
                }
                failures = 0
                // An empty non-blocking fetch switches to the blocking pop; a blocking pop that
                // found a job switches back to batches.
                queueLooksEmpty = payloads.isEmpty
                slots.release(taken - payloads.count)
                if payloads.isEmpty, role == .probation {
                    // The quarantine is empty: a probation process has done its work.
                    requestShutdown()
                    break fetching
                }
                let poppedAt = Date().timeIntervalSince1970
                let fetched = payloads.map { FetchedJob(queue: queue, payload: $0, poppedAt: poppedAt) }
                for job in fetched { hold(job) }
                for (index, job) in fetched.enumerated() {
                    // A fetch that was already running when shutdown began can still return jobs
                    // (even ones the drain just handed back): they go straight back, never dropped.
                    var delivered = false
                    if !isStopping {
                        inFlight.increment()
                        if case .terminated = delivery.yield(job) {
                            inFlight.decrement()
                        } else {
                            delivered = true
                        }
                    }
                    if !delivered {
                        for rest in fetched[index...] {
                            slots.release()
                            await handBack(rest)
                            release(rest)
                        }
                        break fetching
                    }
                }
            } catch {
                slots.release(taken)
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
}

extension Worker {
    func hold(_ fetched: FetchedJob) {
        held.withLock { $0[fetched.queue, default: [:]][Payload(fetched.payload), default: 0] += 1 }
    }

    func release(_ fetched: FetchedJob) {
        held.withLock { held in
            let key = Payload(fetched.payload)
            let count = (held[fetched.queue]?[key] ?? 1) - 1
            held[fetched.queue]?[key] = count > 0 ? count : nil
        }
    }

    /// Hands back any job in this worker's own processing list for `queue` that the process
    /// does not hold: one whose BLMOVE ran while its reply was lost to a dropped connection
    /// (the only way a live worker's list gets a stray). Runs at start (a restarted worker
    /// with the same id) and after fetch errors; returns false when Redis was unreachable.
    func reconcile(_ queue: QueueName, connection: RedisConnection) async -> Bool {
        guard let listed = try? await connection.send("LRANGE", RedisArgument(keys.processing(queue, worker: id)), 0, -1).array else {
            return false
        }
        var remaining = held.withLock { $0[queue] ?? [:] }
        for payload in listed.compactMap(\.bytes) {
            if let count = remaining[Payload(payload)], count > 0 {
                remaining[Payload(payload)] = count - 1
                continue
            }
            logger.warning("found a job in this worker's processing list that it does not hold; handing it back", metadata: ["cervella.queue": "\(queue.rawValue)"])
            await handBack(FetchedJob(queue: queue, payload: payload, poppedAt: Date().timeIntervalSince1970))
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
