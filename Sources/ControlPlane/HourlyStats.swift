import Foundation
import JobProtocol
import RedisClient

/// One thing that happened to a job, as counted in `cervella:stats:<YYYYMMDDHH>`.
public enum StatsEvent: Sendable, Equatable {
    /// A job taken from a tier's own queue (counted once, at the tier it was routed to).
    case handled(tier: Int)
    /// An answer delivered by `tier`; `claudeEquivalentUSD` is what Claude alone would have cost.
    case answered(tier: Int, latencyMs: Int, confidence: Double?, costUSD: Double, claudeEquivalentUSD: Double)
    /// A small-model attempt sent on to Claude; its cost is spent even though it is discarded.
    case fellBack(tier: Int, reason: String, confidence: Double?, costUSD: Double)
    case failed(tier: Int, code: String)
    case cacheHit(savedUSD: Double)
    case dead
    /// A job finished a second time (after a reclaim): a provider call whose answer was dropped.
    case duplicate
    /// Jobs moved back to their queue from a dead worker's processing list.
    case recovered(count: Int)
}

/// Per-hour counters shared by every worker and producer: HINCRBY into one hash per hour,
/// inside the same MULTI as the job's outcome, so the figures never disagree with the results.
public enum HourlyStats {
    /// Upper bounds (ms) of the latency histogram buckets; the last bucket is "+inf".
    public static let latencyBuckets = [100, 250, 500, 1000, 2000, 5000, 10000]
    /// Hours kept: a week and a day, so that "last 24 hours" and "this week" can be read.
    public static let retentionSeconds = 8 * 24 * 3600

    public static func hourKey(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHH"
        return formatter.string(from: date)
    }

    /// `low_confidence_0.55` → `low_confidence`: the reason class, a bounded set of field names.
    public static func reasonClass(_ reason: String) -> String {
        if reason.hasPrefix("low_confidence") { return "low_confidence" }
        return String(reason.prefix(48))
    }

    public static func commands(for events: [StatsEvent], keys: KeySpace, at date: Date = Date()) -> [RedisCommand] {
        guard !events.isEmpty else { return [] }
        let key = RedisArgument(keys.stats(hour: hourKey(date)))
        var commands: [RedisCommand] = []
        func increment(_ field: String, _ by: Int = 1) { commands.append(RedisCommand("HINCRBY", key, RedisArgument(field), RedisArgument(by))) }
        func add(_ field: String, _ value: Double) {
            guard value != 0, value.isFinite else { return }
            commands.append(RedisCommand("HINCRBYFLOAT", key, RedisArgument(field), RedisArgument(String(format: "%.9f", value))))
        }
        for event in events {
            switch event {
            case .handled(let tier):
                increment("requests:tier\(tier)")
            case .answered(let tier, let latencyMs, let confidence, let cost, let claudeEquivalent):
                increment("answered:tier\(tier)")
                increment("latency_ms_sum:tier\(tier)", latencyMs)
                let bucket = latencyBuckets.first { latencyMs <= $0 }.map(String.init) ?? "inf"
                increment("latency_le_\(bucket):tier\(tier)")
                if let confidence {
                    add("confidence_sum:tier\(tier)", confidence)
                    increment("confidence_count:tier\(tier)")
                }
                add("cost_usd", cost)
                add("cost_usd:tier\(tier)", cost)
                add("claude_equivalent_usd", claudeEquivalent)
            case .fellBack(let tier, let reason, let confidence, let cost):
                increment("fallbacks:tier\(tier)")
                increment("fallback_reason:\(reasonClass(reason))")
                if let confidence {
                    add("confidence_sum:tier\(tier)", confidence)
                    increment("confidence_count:tier\(tier)")
                }
                add("cost_usd", cost)
                add("cost_usd:tier\(tier)", cost)
            case .failed(let tier, let code):
                increment("errors:tier\(tier)")
                increment("error_code:\(reasonClass(code))")
            case .cacheHit(let saved):
                increment("cache_hits")
                add("claude_equivalent_usd", saved)
            case .dead:
                increment("dead")
            case .duplicate:
                increment("duplicate_provider_calls")
            case .recovered(let count):
                increment("recovered", count)
            }
        }
        commands.append(RedisCommand("EXPIRE", key, RedisArgument(retentionSeconds)))
        return commands
    }
}
