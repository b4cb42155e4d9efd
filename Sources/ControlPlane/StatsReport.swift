import Foundation
import JobProtocol
import RedisClient
import Settings

/// The report's `/api/admin/stats` figures (4.2), read from the last 24 hourly hashes.
public struct StatsReport: Sendable {
    /// The summed counters of the hours read.
    public var totals: [String: Double]
    /// Cost of the hours of the current UTC day.
    public var costToday: Double
    public var hours: Int
    /// Fresh per-worker health entries: tier → states reported by workers in the last 30 s.
    public var probedHealth: [Tier: [String]] = [:]
    /// The same entries' endpoint details, as JSON, by `tier<N>:<worker>`.
    public var endpointHealth: [String: [UInt8]] = [:]

    public static func load(connection: RedisConnection, keys: KeySpace, now: Date = Date(), hours: Int = 24) async throws -> StatsReport {
        let hourStamps = (0..<hours).map { HourlyStats.hourKey(now.addingTimeInterval(-3600 * Double($0))) }
        let replies = try await connection.pipeline(hourStamps.map { RedisCommand("HGETALL", RedisArgument(keys.stats(hour: $0))) })
        var report = StatsReport(hourly: zip(hourStamps, replies).map { (hour: $0, reply: $1) }, today: String(HourlyStats.hourKey(now).prefix(8)))
        let health = try await connection.send("HGETALL", RedisArgument(keys.health))
        report.addHealth(health, now: now)
        return report
    }

    /// Adds the workers' endpoint health (the HGETALL reply of `cervella:health`): entries of
    /// the last 30 s only, by tier, so that a stopped worker's last view does not linger.
    mutating func addHealth(_ reply: RedisValue, now: Date) {
        let health = reply.array ?? []
        var index = 0
        while index + 1 < health.count {
            defer { index += 2 }
            guard let field = health[index].string, let bytes = health[index + 1].bytes,
                let entry = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                let at = entry["at"] as? Double, now.timeIntervalSince1970 - at < 30,
                let state = entry["state"] as? String, field.hasPrefix("tier"), let tier = Int(field.dropFirst(4).prefix(1)).flatMap({ Tier($0) })
            else { continue }
            probedHealth[tier, default: []].append(state)
            endpointHealth[field] = bytes
        }
    }

    func value(_ field: String) -> Double { totals[field] ?? 0 }

    /// The percentiles the status page and the stats show, by name.
    public static let latencyPercentiles: [(name: String, fraction: Double)] = [("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)]

    /// A latency percentile read off the hourly histogram: the upper bound (ms) of the first
    /// bucket by which `fraction` of the tier's answers were in. Nil without answers, and when
    /// the percentile lies beyond the last bound (`latencyJSON` writes that as ">10000").
    ///
    /// A bucket's bound rather than an interpolation inside the bucket: it is a promise
    /// ("95% of answers within 500 ms") that the counts support, where an interpolated figure
    /// would invent a precision the histogram does not have.
    public func latencyPercentile(_ fraction: Double, tier: Tier) -> Int? {
        let count = value("answered:tier\(tier)")
        guard count > 0 else { return nil }
        var seen = 0.0
        for bucket in HourlyStats.latencyBuckets {
            seen += value("latency_le_\(bucket):tier\(tier)")
            if seen >= fraction * count { return bucket }
        }
        return nil  // beyond the last bucket
    }

    /// A percentile as JSON: the bound in ms, ">10000" past the last bucket, null without answers.
    func latencyJSON(_ fraction: Double, tier: Tier) -> Any {
        if let bound = latencyPercentile(fraction, tier: tier) { return bound }
        return value("answered:tier\(tier)") > 0 ? ">\(HourlyStats.latencyBuckets.last ?? 0)" : NSNull()
    }

    /// The report's model health: the workers' fresh view of the tier's endpoints (circuit
    /// breakers and `/health` probes) when there is one; otherwise from the last hours' error
    /// rates: `healthy`, `degraded` (over 5% errors or fallbacks on errors), `down` (over 50%),
    /// or `unknown` without traffic.
    public func health(tier: Tier) -> String {
        // The endpoints' circuit breakers and probes, as the workers saw them; the worst wins.
        if let states = probedHealth[tier], !states.isEmpty {
            for state in ["down", "degraded", "healthy"] where states.contains(state) { return state }
        }
        let requests = value("requests:tier\(tier)") + (tier == .claude ? value("answered:tier3") - value("requests:tier3") : 0)
        guard requests > 0 else { return "unknown" }
        let errors = value("errors:tier\(tier)") + (tier.isSmall ? errorFallbacks(tier: tier) : 0)
        let rate = errors / requests
        if rate > 0.5 { return "down" }
        if rate > 0.05 { return "degraded" }
        return "healthy"
    }

    private func errorFallbacks(tier: Tier) -> Double {
        // Fallback reasons are counted pool-wide; attribute error-class ones to the small tiers' share.
        let errorReasons = totals.filter { $0.key.hasPrefix("fallback_reason:error_") || $0.key == "fallback_reason:timeout_error" }.values.reduce(
            0, +)
        let fallbacks = value("fallbacks:tier1") + value("fallbacks:tier2")
        guard fallbacks > 0 else { return 0 }
        return errorReasons * value("fallbacks:tier\(tier)") / fallbacks
    }

    /// The report's stats JSON, plus the cost projection and the saving against Claude alone.
    public func json(settings: CervellaSettings, now: Date = Date()) -> [String: Any] {
        func round(_ value: Double, _ places: Double = 4) -> Double { (value * pow(10, places)).rounded() / pow(10, places) }
        let requests = Tier.allCases.map { value("requests:tier\($0)") }
        var fallbackRate: [String: Any] = [:]
        var confidence: [String: Any] = [:]
        for tier in 1...2 {
            let handled = value("requests:tier\(tier)")
            fallbackRate["tier_\(tier)"] = handled > 0 ? round(value("fallbacks:tier\(tier)") / handled) : NSNull()
            let count = value("confidence_count:tier\(tier)")
            confidence["tier_\(tier)"] = count > 0 ? round(value("confidence_sum:tier\(tier)") / count, 3) : NSNull()
        }
        var latency: [String: Any] = [:]
        var p95: [String: Any] = [:]
        var percentiles: [String: Any] = [:]
        for tier in Tier.allCases {
            let count = value("answered:tier\(tier)")
            latency["tier_\(tier)"] = count > 0 ? Int(value("latency_ms_sum:tier\(tier)") / count) : NSNull()
            p95["tier_\(tier)"] = latencyJSON(0.95, tier: tier)
            percentiles["tier_\(tier)"] = Dictionary(
                uniqueKeysWithValues: Self.latencyPercentiles.map { ($0.name, latencyJSON($0.fraction, tier: tier)) })
        }
        let reasons = totals.filter { $0.key.hasPrefix("fallback_reason:") }
            .reduce(into: [String: Int]()) { $0[String($1.key.dropFirst("fallback_reason:".count))] = Int($1.value) }
        let cost = value("cost_usd")
        let claudeOnly = value("claude_equivalent_usd")
        let calendar = Calendar(identifier: .gregorian)
        let daysInMonth = calendar.range(of: .day, in: .month, for: now)?.count ?? 30
        var modelsHealth: [String: String] = [:]
        for tier in Tier.allCases { modelsHealth[settings.tier(tier).model] = health(tier: tier) }
        let total = requests.reduce(0, +)
        // User feedback per tier and model (`POST /api/feedback`): fields
        // `feedback_<up|down>:tier<N>:<model>`.
        var feedback: [String: [String: [String: Any]]] = [:]
        for (field, count) in totals where field.hasPrefix("feedback_up:") || field.hasPrefix("feedback_down:") {
            let parts = field.split(separator: ":", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[1].hasPrefix("tier") else { continue }
            let tier = "tier_" + parts[1].dropFirst(4)
            let rating = parts[0] == "feedback_up" ? "up" : "down"
            feedback[tier, default: [:]][parts[2], default: ["up": 0, "down": 0]][rating] = Int(saturating: count)
        }
        for (tier, models) in feedback {
            for (model, counts) in models {
                // In doubles: counts read from Redis may be anything, and an Int sum can trap.
                let up = Double(counts["up"] as? Int ?? 0)
                let down = Double(counts["down"] as? Int ?? 0)
                feedback[tier]?[model]?["satisfaction"] = up + down > 0 ? round(up / (up + down), 3) : NSNull()
            }
        }
        return [
            "feedback": feedback,
            "window_hours": hours,
            "requests_24h": ["total": Int(total), "tier_1": Int(requests[0]), "tier_2": Int(requests[1]), "tier_3": Int(requests[2])],
            "tier_distribution": total > 0
                ? ["tier_1": round(requests[0] / total, 3), "tier_2": round(requests[1] / total, 3), "tier_3": round(requests[2] / total, 3)] : [:],
            "fallback_rate": fallbackRate,
            "fallback_reasons": reasons,
            "avg_latency_ms": latency,
            "p95_latency_ms": p95,
            "latency_percentiles_ms": percentiles,
            "avg_confidence": confidence,
            "error_rate": total > 0 ? round(Tier.allCases.map { value("errors:tier\($0)") }.reduce(0, +) / total) : 0,
            "cache_hits_24h": Int(value("cache_hits")),
            "dead_letters_24h": Int(value("dead")),
            "cost_24h_usd": round(cost),
            "cost_today_usd": round(costToday),
            "cost_month_projection_usd": round(cost * Double(daysInMonth), 2),
            "claude_only_cost_24h_usd": round(claudeOnly),
            "savings_vs_claude_only_usd": round(claudeOnly - cost),
            "savings_vs_claude_only_pct": claudeOnly > 0 ? round((claudeOnly - cost) / claudeOnly * 100, 1) : NSNull(),
            // Bulk fallbacks answered through Claude Message Batches at half price (docs/ROUTING.md).
            "message_batch_answers_24h": Int(saturating: value("message_batch_answers")),
            "message_batch_saved_24h_usd": round(value("message_batch_saved_usd")),
            "alerts": alerts(settings: settings, cost: cost, daysInMonth: daysInMonth),
            "models_health": modelsHealth,
            "endpoints_health": endpointHealth.compactMapValues { bytes in
                (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])?["endpoints"]
            },
        ]
    }

    /// The report's cost alerts (part 6.3): daily cost and monthly projection over budget.
    func alerts(settings: CervellaSettings, cost: Double, daysInMonth: Int) -> [String] {
        var alerts: [String] = []
        if costToday > settings.budget.dailyCostAlertUSD {
            alerts.append("cost today $\(String(format: "%.2f", costToday)) is over DAILY_COST_ALERT_USD $\(settings.budget.dailyCostAlertUSD)")
        }
        if cost * Double(daysInMonth) > settings.budget.monthlyBudgetUSD {
            alerts.append(
                "monthly projection $\(String(format: "%.2f", cost * Double(daysInMonth))) is over MONTHLY_BUDGET_USD $\(settings.budget.monthlyBudgetUSD)"
            )
        }
        return alerts
    }
}

extension StatsReport {
    /// The totals of hourly hashes, each an HGETALL reply by its hour stamp (`YYYYMMDDHH`);
    /// `costToday` sums `cost_usd` over the hours of `today` (`YYYYMMDD`). Fields that are not
    /// numbers are skipped.
    init(hourly: [(hour: String, reply: RedisValue)], today: String) {
        var totals: [String: Double] = [:]
        var costToday = 0.0
        for (hour, reply) in hourly {
            let values = reply.array ?? []
            var index = 0
            while index + 1 < values.count {
                if let field = values[index].string, let number = values[index + 1].string.flatMap(Double.init) {
                    totals[field, default: 0] += number
                    if field == "cost_usd" && hour.hasPrefix(today) { costToday += number }
                }
                index += 2
            }
        }
        self.init(totals: totals, costToday: costToday, hours: hourly.count)
    }
}
