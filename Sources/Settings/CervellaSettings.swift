import JobProtocol

/// Everything a Cervella process reads at start-up: the tree of `worker.toml`'s tables.
///
/// Defaults are safe for a single machine (local Redis, fallback on, cache on). Every value
/// can be overridden by the environment names of the source report; see `worker.toml`.
public struct CervellaSettings: Sendable, Equatable {
    public struct Redis: Sendable, Equatable {
        /// `redis://[user:password@]host:port/db`.
        public var url = "redis://127.0.0.1:6379/0"
        public var keyPrefix = "cervella"
        /// How long an unread result stays in its reply list.
        public var replyTTLSeconds = 300
        public init() {}
    }

    public struct Cache: Sendable, Equatable {
        public var enabled = true
        public var ttlSeconds = 3600
        /// Identical requests in flight at the same time make one provider call; the others get
        /// its answer (`coalesced: true`). Needs the cache on (docs/PROTOCOL.md, "Single-flight").
        public var singleFlight = true
        public init() {}
    }

    public struct Fallback: Sendable, Equatable {
        /// Master switch: when off, tier-1/2 answers are returned whatever their confidence.
        public var enabled = true
        /// Provider call timeout for tiers 1 and 2 (the report's FALLBACK_TIMEOUT_MS).
        public var timeoutMs = 10_000
        public init() {}
    }

    public struct Worker: Sendable, Equatable {
        /// Queues served, in priority order; the fallback queue first so that rescued jobs finish.
        public var queues: [String] = ["fallback", "tier1", "tier2", "tier3"]
        /// Jobs in flight at once in one worker process.
        public var concurrency = 64
        /// Seconds a blocking pop waits before the loop checks for shutdown.
        public var blockTimeoutSeconds = 2.0
        public var heartbeatIntervalSeconds = 3.0
        public var heartbeatTTLSeconds = 15
        /// SIGTERM: how long in-flight jobs may finish before the rest is handed back.
        public var drainTimeoutSeconds = 20.0
        /// How often a worker tries to take the reaper lease and recover dead workers' jobs.
        public var reaperIntervalSeconds = 1.0
        /// How often a worker adds its counted statistics to the hourly hash (Sidekiq flushes
        /// its processed/failed counts the same way). A killed worker loses at most this much
        /// of its counts, never a job or a result.
        public var statsFlushSeconds = 1.0
        /// Port of the worker's `GET /metrics` listener on loopback; 0 turns it off.
        public var metricsPort = 0
        /// Probation processes a worker runs at once for quarantined jobs (jobs recovered from a
        /// worker that died holding them); each runs one job at a time, alone.
        public var probationProcesses = 2
        /// Automatic rollback (report 6.1): seconds every endpoint of a small tier must have been
        /// down before the pool turns that tier off by itself (0: never), and seconds an endpoint
        /// must have been up again before it turns it back on.
        public var autoRollbackDownSeconds = 60.0
        public var autoRollbackUpSeconds = 120.0
        /// Entries kept in the dead letter list; older ones are trimmed.
        public var deadLetterMaxLength = 10_000
        /// Bytes of a dead job's payload stored with its entry; longer payloads are cut and say so.
        public var deadLetterPayloadBytes = 65_536
        /// Lanes: the share of a worker's slots bulk jobs never take (rounded up, and never all
        /// of them), so that an interactive job finds a slot at once while a batch runs.
        public var interactiveReserve = 0.1
        /// Lanes: while interactive and bulk jobs both wait, at least this share of the slots
        /// that free up go to bulk jobs (one in ten by default), so a batch is never starved.
        public var bulkShare = 0.1
        public init() {}

        /// The most slots bulk jobs may hold in a worker of `concurrency` slots.
        public func bulkSlotLimit(concurrency: Int) -> Int {
            guard concurrency > 1, interactiveReserve > 0 else { return max(1, concurrency) }
            let reserved = max(1, Int((Double(concurrency) * interactiveReserve).rounded(.up)))
            return max(1, concurrency - reserved)
        }

        /// Every how many freed slots one goes to bulk while both lanes wait (0: never).
        public var bulkEvery: Int { bulkShare > 0 ? max(1, Int((1 / bulkShare).rounded())) : 0 }
    }

    public struct Producer: Sendable, Equatable {
        /// Tier a job goes to when nothing else decides (until the classifier decides).
        public var defaultTier = 1
        /// Seconds from enqueue to the job's deadline.
        public var jobTimeoutSeconds = 60.0
        public init() {}

        /// `defaultTier` as a tier (validation keeps it within 1...3).
        public var defaultTierValue: Tier { Tier(defaultTier) ?? .tier1 }
    }

    public var redis = Redis()
    public var cache = Cache()
    public var fallback = Fallback()
    public var worker = Worker()
    public var producer = Producer()
    public var routing = RoutingSettings()
    public var budget = Budget()
    public var gateway = Gateway()
    public var scaling = Scaling()
    public var shadow = Shadow()
    /// `[message_batches]` (MessageBatchSettings.swift).
    public var messageBatches = MessageBatches()

    /// Shadow labels from live traffic (docs/ROUTING.md, "Shadow labels"): a share of the
    /// accepted small-model answers is also answered by Claude and judged, off the request
    /// path, and the outcome is appended to `cervella:outcomes`.
    public struct Shadow: Sendable, Equatable {
        /// Share (0–1) of accepted small-model answers sampled; every one of them while the POC
        /// is not validated (`poc_validated = false`).
        public var sampleRate = 0.0
        /// Claude spend on shadow answers and their judging, per UTC day, pool-wide; 0 turns
        /// shadowing off, POC phase included.
        public var dailyBudgetUSD = 1.0
        /// Sampled answers waiting for an idle moment; older ones are dropped past it.
        public var maxPending = 1_000
        /// A job whose messages and answer are larger than this is not sampled.
        public var maxTaskBytes = 65_536
        public init() {}
    }

    /// The auto-scale signal (report 5.4; `ScaleAdvisor`): when the small tier 1 needs more
    /// capacity, the pool says so with a gauge, a log line and an optional webhook.
    public struct Scaling: Sendable, Equatable {
        /// Tier-1 p95 latency above which the tier counts as overloaded.
        public var p95ThresholdMs = 2000
        /// How long the p95 must stay above it (in whole 10 s slots).
        public var windowSeconds = 300
        /// POSTed a JSON signal when the pool asks for capacity, again every
        /// `webhookIntervalSeconds` while it does, and once when it no longer does. Optional;
        /// may hold a token, so it is never logged. Env: CERVELLA_SCALE_WEBHOOK_URL.
        public var webhookURL: String?
        public var webhookIntervalSeconds = 300.0
        public init() {}
    }

    /// The report's cost alerts.
    public struct Budget: Sendable, Equatable {
        /// Env: DAILY_COST_ALERT_USD.
        public var dailyCostAlertUSD = 15.0
        /// Env: MONTHLY_BUDGET_USD.
        public var monthlyBudgetUSD = 400.0
        /// The escalation budget (docs/ROUTING.md, "Escalation budget"): Claude spend on
        /// fallbacks allowed per UTC hour and per UTC day, pool-wide; 0 is no cap. Live:
        /// `fallback_hourly_usd` / `fallback_daily_usd` in `cervella:config`.
        public var fallbackHourlyUSD = 0.0
        public var fallbackDailyUSD = 0.0
        /// Past this share of a cap only the fallbacks that matter most still escalate: every
        /// error, empty answer, timeout and broken structure, and low-confidence answers the
        /// lower their confidence the closer to the cap.
        public var fallbackNearShare = 0.8
        /// Errors (and the other answers that cannot be returned as they are) may go this share
        /// past a cap, the hard cap; low-confidence answers never go past the cap itself.
        public var fallbackErrorOverrun = 0.2
        public init() {}

        /// True when a fallback cap is set in the file (the live switches may set one too).
        public var capsFallbacks: Bool { fallbackHourlyUSD > 0 || fallbackDailyUSD > 0 }
    }
    public var tiers: [Tier: TierSettings] = [.tier1: .defaults(tier: .tier1), .tier2: .defaults(tier: .tier2), .tier3: .defaults(tier: .tier3)]

    public init() {}

    public func tier(_ tier: Tier) -> TierSettings { tiers[tier] ?? .defaults(tier: tier) }
}

// Settings files and the environment give durations in seconds (the names say so); the code
// uses them as `Duration`, converted here and only here (bounded by validation, saturating).
extension CervellaSettings.Worker {
    public var blockTimeout: Duration { .seconds(saturating: blockTimeoutSeconds) }
    public var heartbeatInterval: Duration { .seconds(saturating: heartbeatIntervalSeconds) }
    public var drainTimeout: Duration { .seconds(saturating: drainTimeoutSeconds) }
    public var reaperInterval: Duration { .seconds(saturating: reaperIntervalSeconds) }
    public var statsFlushInterval: Duration { .seconds(saturating: statsFlushSeconds) }
}

extension CervellaSettings.Producer {
    public var jobTimeout: Duration { .seconds(saturating: jobTimeoutSeconds) }
}
