import Foundation
import JobProtocol
import Logging
import Metrics
import RedisClient
import Settings

/// What the pool last said about tier 1's capacity (report 5.4): whether it needs more, why,
/// and how much it estimates.
public struct ScaleSignal: Sendable, Equatable {
    /// True when tier 1 needs more capacity.
    public var wanted = false
    /// `latency` (p95 over the threshold for the whole window), `backlog` (the queue will not
    /// drain before the newest job's deadline), or both.
    public var reasons: [String] = []
    /// The lowest per-slot p95 over the window (ms; the histogram bucket's bound), nil when a
    /// slot had no tier-1 answers; `p95Beyond` when even that was past the last bucket.
    public var p95Ms: Int?
    public var p95Beyond = false
    public var backlog = 0
    /// Jobs taken from the tier-1 queue per second over the last minute.
    public var drainPerSecond = 0.0
    /// Seconds until the newest queued job's deadline; nil with an empty queue.
    public var secondsLeft: Double?
    public var workers = 0
    public var neededWorkers = 0
    public var gpuHosts = 0
    public var neededGPUHosts = 0

    public init() {}

    /// The largest factor an estimate scales the current count by.
    static let maxFactor = 100.0
    /// The largest worker or host count an estimate starts from.
    static let maxCount = 100_000

    /// How long the oldest queued job must have waited before a backlog counts: jobs that
    /// pass through the queue in moments (a burst into idle workers) are not a backlog.
    public static let backlogMinimumWaitSeconds = 10.0

    /// Decides from the window's per-slot counters (oldest first, complete slots only), the
    /// tier-1 backlog, the newest queued job's deadline and the oldest one's creation time.
    public static func decide(
        slots: [[String: Double]], windowSlots: Int, thresholdMs: Int, backlog: Int, newestDeadline: Double?, oldestCreated: Double?,
        now: Double, workers: Int, gpuHosts: Int
    ) -> ScaleSignal {
        var signal = ScaleSignal()
        // Bounded before any arithmetic: the estimates below multiply them by up to maxFactor.
        signal.workers = min(max(0, workers), maxCount)
        signal.gpuHosts = min(max(0, gpuHosts), maxCount)
        signal.backlog = max(0, backlog)
        var factor = 1.0

        // Latency: every slot of the window answered, each with its p95 over the threshold.
        let window = slots.suffix(windowSlots)
        var lowest: Int?
        var covered = window.count == windowSlots
        for slot in window {
            let report = StatsReport(totals: slot, costToday: 0, hours: 0)
            guard report.value("answered:tier1") > 0 else {
                covered = false
                break
            }
            // nil: past the last bucket; counted as twice its bound.
            let bound = report.latencyPercentile(0.95, tier: .tier1) ?? 2 * (HourlyStats.latencyBuckets.last ?? 10_000)
            lowest = min(lowest ?? bound, bound)
        }
        if covered, let lowest {
            signal.p95Ms = min(lowest, HourlyStats.latencyBuckets.last ?? lowest)
            signal.p95Beyond = lowest > (HourlyStats.latencyBuckets.last ?? .max)
            if lowest > thresholdMs {
                signal.reasons.append("latency")
                factor = max(factor, Double(lowest) / Double(max(1, thresholdMs)))
            }
        }

        // Backlog: at the last minute's drain rate, the queue empties after the newest job's deadline.
        let minute = slots.suffix(60 / HourlyStats.slotSeconds)
        let taken = minute.reduce(0.0) { $0 + max(0, $1["requests:tier1"] ?? 0) }
        signal.drainPerSecond = minute.isEmpty ? 0 : taken / Double(minute.count * HourlyStats.slotSeconds)
        if signal.backlog > 0, let deadline = newestDeadline, deadline.isFinite, now.isFinite, let created = oldestCreated, created.isFinite,
            now - created >= backlogMinimumWaitSeconds
        {
            let left = deadline - now
            signal.secondsLeft = left
            let drain = signal.drainPerSecond
            let needed = drain > 0 ? Double(signal.backlog) / drain : .infinity
            if needed > left {
                signal.reasons.append("backlog")
                factor = max(factor, drain > 0 && left > 0 ? needed / left : 2)
            }
        }

        signal.wanted = !signal.reasons.isEmpty
        factor = min(max(factor, 1), maxFactor)
        signal.neededWorkers = signal.wanted ? max(signal.workers + 1, Int((Double(max(signal.workers, 1)) * factor).rounded(.up))) : signal.workers
        signal.neededGPUHosts =
            signal.wanted ? max(signal.gpuHosts + 1, Int((Double(max(signal.gpuHosts, 1)) * factor).rounded(.up))) : signal.gpuHosts
        return signal
    }

    /// The signal as JSON: what `cervella:scale` holds and the webhook posts (with `event`).
    public func json(at date: Date, since: Double?, notifiedAt: Double?, event: String? = nil) -> [String: Any] {
        var object: [String: Any] = [
            "tier": 1, "wanted": wanted, "reasons": reasons, "backlog": backlog,
            "drain_per_second": (drainPerSecond * 1000).rounded() / 1000, "workers": workers, "needed_workers": neededWorkers,
            "gpu_hosts": gpuHosts, "needed_gpu_hosts": neededGPUHosts, "at": date.timeIntervalSince1970,
        ]
        object["p95_ms"] = p95Beyond ? ">\(HourlyStats.latencyBuckets.last ?? 0)" : p95Ms.map { $0 as Any } ?? NSNull()
        object["seconds_left"] = secondsLeft.map { ($0 * 10).rounded() / 10 as Any } ?? NSNull()
        if let since { object["since"] = since }
        if let notifiedAt { object["notified_at"] = notifiedAt }
        if let event { object["event"] = event }
        return object
    }
}

/// Decides the auto-scale signal for the pool (one worker at a time holds the lease), stores
/// it in `cervella:scale`, logs its changes, and hands webhook deliveries to `notify`; every
/// worker exports it as `cervella_scale_hint{tier, resource}` and
/// `cervella_scale_pressure{tier, reason}`.
public struct ScaleAdvisor: Sendable {
    let connection: RedisConnection
    let keys: KeySpace
    let settings: CervellaSettings
    let logger: Logger
    /// Delivers a webhook body (JSON); called only when `scaling.webhook_url` is set, and must
    /// not block: the worker sends it on a task of its own, with retries.
    let notify: @Sendable ([UInt8]) -> Void

    public init(
        connection: RedisConnection, keys: KeySpace, settings: CervellaSettings, logger: Logger, notify: @escaping @Sendable ([UInt8]) -> Void
    ) {
        self.connection = connection
        self.keys = keys
        self.settings = settings
        self.logger = logger
        self.notify = notify
    }

    var windowSlots: Int { max(1, (settings.scaling.windowSeconds + HourlyStats.slotSeconds - 1) / HourlyStats.slotSeconds) }

    public func run(interval: Duration, owner: String) async {
        await repeatEvery(interval) {
            do {
                let milliseconds = max(500, interval.wholeMilliseconds * 2)
                let held = try await connection.evaluate(
                    TierGuard.lease, keys: [RedisArgument(keys.scaleLease)], arguments: [RedisArgument(owner), RedisArgument(milliseconds)])
                if held.integer == 1 { try await pass() }
                export(try await connection.send("GET", RedisArgument(keys.scaleSignal)).bytes)
            } catch {
                logger.warning("scale signal pass failed; will retry", metadata: ["cervella.error": "\(error)"])
            }
        }
    }

    /// Reads the window, the backlog and the workers; decides; stores, logs and notifies.
    @discardableResult
    public func pass(now: Date = Date()) async throws -> ScaleSignal {
        // A slot is complete once every worker has flushed it: one flush interval and a second after its end.
        let lastComplete = HourlyStats.slot(now.addingTimeInterval(-(settings.worker.statsFlushSeconds + 1))) - 1
        let slotNumbers = Array((lastComplete - windowSlots + 1)...lastComplete)
        var commands = slotNumbers.map { RedisCommand("HGETALL", RedisArgument(keys.recentStats(slot: $0))) }
        commands += [
            // Producers push at the head (index 0: the newest), workers take from the tail.
            RedisCommand("LLEN", RedisArgument(keys.queue(.tier1))), RedisCommand("LINDEX", RedisArgument(keys.queue(.tier1)), 0),
            RedisCommand("LINDEX", RedisArgument(keys.queue(.tier1)), -1), RedisCommand("GET", RedisArgument(keys.scaleSignal)),
        ]
        let replies = try await connection.pipeline(commands)
        let slots = replies.prefix(slotNumbers.count).map(Self.numbers)
        let tail = Array(replies.suffix(4))
        let workers = try await LiveWorkers.load(connection: connection, keys: keys)
        let signal = ScaleSignal.decide(
            slots: Array(slots), windowSlots: windowSlots, thresholdMs: settings.scaling.p95ThresholdMs,
            backlog: tail[0].integer ?? 0, newestDeadline: Self.time("deadline_at", of: tail[1].bytes),
            oldestCreated: Self.time("created_at", of: tail[2].bytes), now: now.timeIntervalSince1970,
            workers: workers.workersByQueue[QueueName.tier1.rawValue] ?? 0,
            gpuHosts: settings.tier(.tier1).endpoints.count)
        try await publish(signal, previous: Self.object(tail[3].bytes), now: now)
        return signal
    }

    /// Stores the signal (with when it began and when it was last notified), and logs and
    /// notifies when it begins, every `webhook_interval_seconds` while it lasts, and when it ends.
    private func publish(_ signal: ScaleSignal, previous: [String: Any]?, now: Date) async throws {
        let stamp = now.timeIntervalSince1970
        let wasWanted = previous?["wanted"] as? Bool ?? false
        var since = wasWanted ? Self.pastTime(previous?["since"], now: stamp) : nil
        var notifiedAt = wasWanted ? Self.pastTime(previous?["notified_at"], now: stamp) : nil
        var event: String?
        if signal.wanted {
            since = since ?? stamp
            if !wasWanted {
                event = "scale_up"
            } else if stamp - (notifiedAt ?? 0) >= settings.scaling.webhookIntervalSeconds {
                event = "still_needed"
            }
        } else if wasWanted {
            event = "resolved"
        }
        if event != nil { notifiedAt = signal.wanted ? stamp : nil }
        let stored = signal.json(at: now, since: signal.wanted ? since : nil, notifiedAt: notifiedAt)
        let data = try JSONSerialization.data(withJSONObject: stored, options: [.sortedKeys])
        // Kept a little longer than a lease holder's absence, so a stale signal does not linger.
        try await connection.send("SET", RedisArgument(keys.scaleSignal), RedisArgument(bytes: Array(data)), "EX", 120)
        guard let event else { return }
        let metadata: Logger.Metadata = [
            "cervella.scale.reasons": "\(signal.reasons.joined(separator: ","))", "cervella.scale.p95_ms": "\(stored["p95_ms"] ?? "")",
            "cervella.scale.backlog": "\(signal.backlog)", "cervella.scale.drain_per_second": "\(stored["drain_per_second"] ?? 0)",
            "cervella.scale.workers": "\(signal.workers)", "cervella.scale.needed_workers": "\(signal.neededWorkers)",
            "cervella.scale.gpu_hosts": "\(signal.gpuHosts)", "cervella.scale.needed_gpu_hosts": "\(signal.neededGPUHosts)",
        ]
        if event == "resolved" {
            logger.notice("tier 1 has the capacity it needs again", metadata: metadata)
        } else {
            logger.warning(
                "tier 1 needs more capacity: about \(signal.neededGPUHosts) GPU hosts (now \(signal.gpuHosts)) and \(signal.neededWorkers) workers (now \(signal.workers))",
                metadata: metadata)
        }
        Counter(label: "cervella_scale_signals_total", dimensions: [("tier", "1"), ("event", event)]).increment()
        if settings.scaling.webhookURL != nil {
            let body = signal.json(at: now, since: signal.wanted ? since : nil, notifiedAt: nil, event: event)
            notify(Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])))
        }
    }

    /// Every worker's gauges, from the stored signal (absent: nothing asked for).
    func export(_ stored: [UInt8]?) {
        let object = Self.object(stored) ?? [:]
        let wanted = object["wanted"] as? Bool ?? false
        let reasons = object["reasons"] as? [String] ?? []
        for reason in ["latency", "backlog"] {
            Gauge(label: "cervella_scale_pressure", dimensions: [("tier", "1"), ("reason", reason)]).record(
                wanted && reasons.contains(reason) ? 1 : 0)
        }
        let gpuHosts = object["needed_gpu_hosts"] as? Int ?? settings.tier(.tier1).endpoints.count
        Gauge(label: "cervella_scale_hint", dimensions: [("tier", "1"), ("resource", "gpu_hosts")]).record(gpuHosts)
        if let workers = object["needed_workers"] as? Int {
            Gauge(label: "cervella_scale_hint", dimensions: [("tier", "1"), ("resource", "workers")]).record(workers)
        }
    }

    static func numbers(_ reply: RedisValue) -> [String: Double] {
        reply.hashFields.compactMapValues { Double($0) }.filter { $0.value.isFinite }
    }

    /// The stored signal as an object; nil for anything else. Bounded in size and, through the
    /// project's own parser (64 levels at most), in depth before Foundation reads it: the key
    /// can be written by anyone with access to Redis.
    static func object(_ bytes: [UInt8]?) -> [String: Any]? {
        guard let bytes, bytes.count <= 65_536, JSONValue.parse(bytes) != nil else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
    }

    /// A stored time, only if it is a finite past one (a hand-edited key must not reach the arithmetic).
    static func pastTime(_ value: Any?, now: Double) -> Double? {
        guard let time = value as? Double, time.isFinite, time > 0, time <= now else { return nil }
        return time
    }

    /// A time field (`deadline_at`, `created_at`) of a queued job, read without trusting it: a
    /// finite positive number of Unix seconds, or nil.
    static func time(_ field: String, of payload: [UInt8]?) -> Double? {
        // The project's own parser: bounded nesting, whatever was pushed to the queue.
        guard let payload, let time = JSONValue.parse(payload)?[field]?.doubleValue, time.isFinite, time > 0, time < 1e12 else { return nil }
        return time
    }
}
