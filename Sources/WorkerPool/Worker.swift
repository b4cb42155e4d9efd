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
/// jobs at once; jobs in flight get `worker.drain_timeout_seconds` to finish; what is left is cancelled
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
    let providers: [Tier: any ChatProvider]
    let slots: SlotPool
    let retryPolicy = RetryPolicy()
    /// Counted outcomes, written to the hourly stats every `worker.stats_flush_seconds`.
    let stats = StatsAccumulator()
    /// The operator's live switches; a disabled tier's jobs go straight to Claude.
    let live: LiveConfigWatcher
    /// Caps on Claude spend for fallbacks (`EscalationBudget`).
    let budget: EscalationBudget
    private let stopping = StopSignal()
    /// Jobs being processed (slots also count fetchers waiting on an empty queue).
    let inFlight = InFlightCounter()
    /// Cancelled jobs this worker has heard of, and the calls to stop when it hears one.
    let cancels = CancelWatch()
    /// Every write that takes a job off a processing list: commits and hand-backs.
    let writer: CommitWriter
    /// The fetch loops and the ledger of the payloads they took.
    let fetcher: Fetcher
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
            // Each work queue brings its bulk lane, served after every interactive queue.
            let interactive = queues ?? settings.worker.queues.compactMap(QueueName.init(rawValue:))
            self.queues = interactive + interactive.compactMap(\.bulkLane)
            self.concurrency = concurrency ?? settings.worker.concurrency
        }
        var logger = logger
        logger[metadataKey: "cervella.worker"] = "\(id)"
        self.logger = logger
        var configuration = try RedisConfiguration(url: settings.redis.url)
        // A blocking pop must never look like a dead server: the read timeout exceeds it.
        configuration.readTimeout = settings.worker.blockTimeout + .seconds(10)
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
        var providers: [Tier: any ChatProvider] = [:]
        for tier in Tier.allCases { providers[tier] = ProviderFactory.make(settings.tier(tier), http: http) }
        self.providers = providers
        self.slots = SlotPool(
            capacity: slotCount, bulkLimit: settings.worker.bulkSlotLimit(concurrency: slotCount),
            bulkEvery: settings.worker.bulkEvery)
        self.live = LiveConfigWatcher(settings: settings, connection: commands, logger: logger)
        self.budget = EscalationBudget(connection: commands, keys: keys, settings: settings, logger: logger)
        let stopping = self.stopping
        let writer = CommitWriter(
            connection: commands, keys: keys, settings: settings, owner: id, stats: stats, logger: logger,
            isStopping: { stopping.isSet }
        )
        self.writer = writer
        let fetchContext = Fetcher.Context(
            redis: configuration, keys: keys, owner: id, blockTimeoutSeconds: settings.worker.blockTimeoutSeconds,
            stopWhenEmpty: role == .probation, traffic: traffic, logger: logger
        )
        self.fetcher = Fetcher(context: fetchContext, slots: slots, inFlight: inFlight, writer: writer)
    }

    /// Stops fetching and starts the drain; `run()` returns once the drain is over.
    public func requestShutdown() {
        guard stopping.set() else { return }
        logger.info("worker stopping: no new jobs, draining in-flight ones", metadata: ["cervella.in_flight": "\(inFlight.value)"])
        slots.close()
    }

    var isStopping: Bool { stopping.isSet }

    /// The operator's live switches as this worker last read them.
    public var liveFlags: LiveFlags { live.current }

    public func run() async throws {
        logger.info(
            "worker started",
            metadata: [
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
        guard
            let replies = try? await commands.pipeline([
                RedisCommand("CONFIG", "GET", "maxmemory-policy"), RedisCommand("CONFIG", "GET", "appendonly"),
            ])
        else { return }
        // CONFIG may be disabled (managed Redis); then there is nothing to check.
        let policy = replies[0].array?.last?.string
        let appendOnly = replies[1].array?.last?.string
        if let policy, policy != "noeviction" {
            logger.warning(
                "Redis maxmemory-policy is '\(policy)': under memory pressure Redis may evict queued jobs and replies; set maxmemory-policy noeviction"
            )
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
                    // A bulk job's work waits behind interactive jobs' for a thread, as it
                    // waits behind them for a slot (docs/PROTOCOL.md, "Lanes").
                    group.addTask(priority: job.queue.isBulk ? .low : nil) { await self.process(job) }
                }
            }
        }
        await live.refresh()
        await checkRedisDurability()
        cancels.start(
            configuration: redisConfiguration, keys: keys, name: keys.connectionName(worker: id, role: "cancels"), logger: logger)
        defer { cancels.stop() }
        await withTaskGroup(of: Void.self) { group in
            let reaperInterval = self.settings.worker.reaperInterval
            group.addTask { await self.heartbeatLoop() }
            group.addTask { await self.live.run() }
            if role == .worker {
                group.addTask { await Reaper(writer: self.writer).run(interval: reaperInterval) }
                group.addTask { await self.healthLoop(interval: .seconds(5)) }
                group.addTask {
                    let guardian = TierGuard(connection: self.commands, keys: self.keys, settings: self.settings, logger: self.logger)
                    // Health is probed every 5 s: a pass every 2 s (or reaper interval, if longer) is enough.
                    await guardian.run(interval: max(reaperInterval, .seconds(2)), owner: self.id) { self.live.current }
                }
                group.addTask {
                    let webhook = self.settings.scaling.webhookURL.map { ScaleWebhook(url: $0, http: self.http, logger: self.logger) }
                    let advisor = ScaleAdvisor(connection: self.commands, keys: self.keys, settings: self.settings, logger: self.logger) {
                        webhook?.send($0)
                    }
                    // The signal moves with 10 s slots of statistics: a pass every 2 s is enough.
                    await advisor.run(interval: max(reaperInterval, .seconds(2)), owner: self.id)
                }
            }
            if role == .worker, self.settings.shadow.dailyBudgetUSD > 0, let claude = self.providers[.claude] {
                group.addTask {
                    let shadow = ShadowRunner(
                        connection: self.commands, keys: self.keys, settings: self.settings, claude: claude, logger: self.logger)
                    await shadow.run(interval: .seconds(1))
                }
            }
            if let batcher = messageBatcher() {
                group.addTask { await batcher.run() }
            }
            if let probation {
                group.addTask { await ProbationSupervisor(writer: self.writer, launcher: probation).run(interval: reaperInterval) }
            }
            group.addTask { await self.statsLoop() }
            if role == .worker {
                group.addTask { await self.budget.run(interval: .seconds(5)) { self.live.current } }
            }
            group.addTask {
                // A probation process stops once the quarantine is empty.
                await self.fetcher.run(queues: self.queues, delivery: delivery) { self.requestShutdown() }
            }
            group.addTask {
                // The drain deadline starts when shutdown is requested.
                await self.stopping.wait()
                guard self.isStopping else { return }
                _ = await self.inFlight.waitUntilIdle(timeout: self.settings.worker.drainTimeout)
                let left = self.inFlight.value
                if left > 0 {
                    self.logger.warning(
                        "drain timeout reached; handing unfinished jobs back to their queues", metadata: ["cervella.in_flight": "\(left)"])
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
        await repeatEvery(settings.worker.statsFlushInterval, starting: .afterFirstInterval) {
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
        await repeatEvery(settings.worker.heartbeatInterval) {
            // `named_connections`: the reaper may judge this worker by its connections (Reaper).
            let info =
                "{\"queues\":\"\(queues.map(\.rawValue).joined(separator: ","))\",\"in_flight\":\(inFlight.value),\"concurrency\":\(concurrency),\"redis_commands\":\(traffic.commands),\"redis_round_trips\":\(traffic.roundTrips),\"named_connections\":true,\"at\":\(Date().timeIntervalSince1970)}"
            do {
                try await commands.send(
                    "SET", RedisArgument(keys.worker(id)), RedisArgument(info), "EX", RedisArgument(settings.worker.heartbeatTTLSeconds))
            } catch {
                logger.error("heartbeat failed; Redis unreachable?", metadata: ["cervella.error": "\(error)"])
            }
        }
    }

    /// Probes the served tiers' endpoints (vLLM's `/health`) and publishes this worker's view of
    /// each tier's health, which `cervella admin stats` reports as the models' health.
    private func healthLoop(interval: Duration) async {
        let tiers = Set(queues.map(\.servingTier)).sorted()
        await repeatEvery(interval) {
            var fields: [RedisArgument] = [RedisArgument(keys.health)]
            for tier in tiers {
                guard let provider = providers[tier] else { continue }
                await provider.health.probe(http: http, timeout: .seconds(2))
                for status in provider.health.snapshot() { WorkerMetrics.endpoint(tier: tier, status) }
                let endpoints: [[String: Any]] = provider.health.snapshot().map { status in
                    [
                        "endpoint": status.endpoint, "state": status.state.rawValue, "consecutive_failures": status.consecutiveFailures,
                        "last_error": status.lastError ?? NSNull(),
                    ]
                }
                let entry: [String: Any] = [
                    "model": provider.model, "state": provider.health.modelHealth().rawValue, "at": Date().timeIntervalSince1970,
                    "endpoints": endpoints,
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
        }
    }
}
