import Foundation
import JobProtocol
import RedisClient
import Settings

/// What `GET /api/status` answers and the gateway's status page shows: the public part of the
/// last 24 hours' statistics, the pool right now (workers, queues) and the tier switches.
///
/// Any API key may read it, so it holds nothing that only the admin key should see: no
/// endpoint addresses (the admin stats' `endpoints_health`), no provider keys or whether they
/// are set, no live-override problems (they quote what an operator typed).
public struct StatusReport: Sendable {
    public var stats: StatsReport
    public var workers: LiveWorkers
    public var queueDepths: [QueueName: Int]
    /// The live switches (`cervella:config`).
    public var overrides: [String: String]
    /// The tiers the pool turned off by itself (`cervella:auto_switch`, see `TierGuard`).
    public var autoSwitch: [String: String]

    public init(
        stats: StatsReport, workers: LiveWorkers, queueDepths: [QueueName: Int], overrides: [String: String], autoSwitch: [String: String]
    ) {
        self.stats = stats
        self.workers = workers
        self.queueDepths = queueDepths
        self.overrides = overrides
        self.autoSwitch = autoSwitch
    }

    /// The statistics' fields a user may read. A list of what is in rather than of what is
    /// out: a field added to the admin stats later stays out of here until someone adds it.
    static let publicStatsFields = [
        "window_hours", "requests_24h", "tier_distribution", "fallback_rate", "fallback_reasons", "avg_latency_ms", "p95_latency_ms",
        "latency_percentiles_ms", "avg_confidence", "error_rate", "cache_hits_24h", "dead_letters_24h", "cost_24h_usd", "cost_today_usd",
        "cost_month_projection_usd", "claude_only_cost_24h_usd", "savings_vs_claude_only_usd", "savings_vs_claude_only_pct", "alerts",
    ]

    /// Who turned a tier off.
    public enum SwitchedOffBy: String, Sendable {
        /// The pool, because every endpoint of the tier was down (`TierGuard`).
        case pool
        /// An operator, with the live switch (`cervella admin toggle-tier`, the admin API).
        case `operator`
        /// `worker.toml` or the environment (`tiers.<n>.enabled = false`).
        case configuration
    }

    /// A tier's switch as the page shows it.
    public struct TierSwitch: Sendable, Equatable {
        public var enabled: Bool
        public var switchedOffBy: SwitchedOffBy?
        /// The pool's reason (`every tier1 endpoint down for 61 s`) and when it switched.
        public var reason: String?
        public var switchedOffAt: Date?
    }

    public func tierSwitch(_ tier: Tier, settings: CervellaSettings) -> TierSwitch {
        let flags = LiveFlags(settings: settings).applying(overrides).flags
        guard !flags.isEnabled(tier) else { return TierSwitch(enabled: true) }
        if let record = autoSwitch["tier\(tier)"] {
            let object = (try? JSONSerialization.jsonObject(with: Data(record.utf8))) as? [String: Any]
            // The record is the pool's own text; bounded all the same, as it reaches a page.
            let reason = (object?["reason"] as? String).map { String($0.prefix(200)) } ?? "every endpoint of the tier was down"
            // A hand-edited time out of range must not reach UTCTime's conversion.
            let at = (object?["at"] as? Double).flatMap { $0.isFinite && $0 > 0 && $0 < 1e11 ? Date(timeIntervalSince1970: $0) : nil }
            return TierSwitch(enabled: false, switchedOffBy: .pool, reason: reason, switchedOffAt: at)
        }
        let live = overrides["tier\(tier)_enabled"].flatMap(LiveFlags.bool)
        return TierSwitch(enabled: false, switchedOffBy: live == false ? .operator : .configuration)
    }

    public func json(settings: CervellaSettings, now: Date = Date()) -> [String: Any] {
        let all = stats.json(settings: settings, now: now)
        var json = all.filter { Self.publicStatsFields.contains($0.key) }
        let flags = LiveFlags(settings: settings).applying(overrides).flags
        var tiers: [String: Any] = [:]
        for tier in Tier.allCases {
            let state = tierSwitch(tier, settings: settings)
            tiers["\(tier)"] =
                [
                    "enabled": state.enabled,
                    "model": settings.tier(tier).model,
                    "health": stats.health(tier: tier),
                    "live_worker": workers.queues.contains(tier.queue.rawValue),
                    "switched_off_by": state.switchedOffBy?.rawValue ?? NSNull(),
                    "switched_off_reason": state.reason ?? NSNull(),
                    "switched_off_at": state.switchedOffAt.map { UTCTime($0).iso8601 } ?? NSNull(),
                    "window": flags.windows[tier].map(\.description) ?? "",
                    "in_window": flags.isInWindow(tier, at: now),
                ] as [String: Any]
        }
        json["tiers"] = tiers
        json["workers"] =
            [
                "alive": workers.count, "in_flight": workers.inFlight, "concurrency": workers.concurrency,
                "queues_served": workers.queues.sorted(),
            ] as [String: Any]
        json["queues"] = Dictionary(uniqueKeysWithValues: QueueName.allCases.map { ($0.rawValue, queueDepths[$0] ?? 0) })
        json["fallback_enabled"] = flags.fallbackEnabled
        json["fallback_budget_usd"] = ["hourly": flags.fallbackHourlyUSD, "daily": flags.fallbackDailyUSD]
        json["rollout"] = ["tier1_percentage": flags.tier1Percentage, "tier2_percentage": flags.tier2Percentage]
        json["generated_at"] = UTCTime(now).iso8601
        return json
    }
}
