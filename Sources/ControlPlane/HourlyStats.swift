import Foundation
import JobProtocol
import RedisClient
import Synchronization

/// One thing that happened to a job, as counted in `cervella:stats:<YYYYMMDDHH>`.
public enum StatsEvent: Sendable, Equatable {
    /// A job taken from a tier's own queue (counted once, at the tier it was routed to).
    case handled(tier: Tier)
    /// An answer delivered by `tier`; `claudeEquivalentUSD` is what Claude alone would have cost.
    case answered(tier: Tier, latencyMs: Int, confidence: Double?, costUSD: Double, claudeEquivalentUSD: Double)
    /// A small-model attempt sent on to Claude; its cost is spent even though it is discarded.
    case fellBack(tier: Tier, reason: String, confidence: Double?, costUSD: Double)
    case failed(tier: Tier, code: String)
    /// A job its producer cancelled while `tier` answered it; the partial call's cost is spent.
    case cancelled(tier: Tier, costUSD: Double)
    case cacheHit(savedUSD: Double)
    case dead
    /// A job finished a second time (after a reclaim): a provider call whose answer was dropped.
    case duplicate
    /// Jobs moved back to their queue from a dead worker's processing list.
    case recovered(count: Int)
    /// A fallback held back (`reason`: `budget`, the escalation budget): the small model's
    /// answer, or its error, was the result.
    case suppressed(tier: Tier, reason: String)
    /// A request answered by an identical one's provider call (single-flight); `savedUSD` is what
    /// the call cost.
    case coalesced(savedUSD: Double)
}

/// Per-hour counters shared by every worker and producer: HINCRBY into one hash per hour,
/// inside the same MULTI as the job's outcome, so the figures never disagree with the results.
public enum HourlyStats {
    /// Upper bounds (ms) of the latency histogram buckets; the last bucket is "+inf".
    public static let latencyBuckets = [100, 250, 500, 1000, 2000, 5000, 10000]
    /// Hours kept: a week and a day, so that "last 24 hours" and "this week" can be read.
    public static let retentionSeconds = 8 * 24 * 3600

    public static func hourKey(_ date: Date) -> String {
        UTCTime(date).hourStamp
    }

    /// `low_confidence_0.55` → `low_confidence`: the reason class, a bounded set of field names.
    public static func reasonClass(_ reason: String) -> String {
        if reason.hasPrefix("low_confidence") { return "low_confidence" }
        return String(reason.prefix(48))
    }

    /// What the events add to the hour's hash: integer and decimal increments per field.
    public struct Increments: Sendable, Equatable {
        public var integers: [String: Int] = [:]
        public var decimals: [String: Double] = [:]

        public init() {}

        public var isEmpty: Bool { integers.isEmpty && decimals.isEmpty }

        public mutating func merge(_ other: Increments) {
            integers.merge(other.integers) { a, b in
                let (sum, overflow) = a.addingReportingOverflow(b)
                return overflow ? .max : sum
            }
            decimals.merge(other.decimals, uniquingKeysWith: +)
        }
    }

    public static func increments(for events: [StatsEvent]) -> Increments {
        var result = Increments()
        func increment(_ field: String, _ by: Int = 1) {
            // Saturating: a latency measured from a hostile `created_at` must not trap here.
            let (sum, overflow) = result.integers[field, default: 0].addingReportingOverflow(by)
            result.integers[field] = overflow ? .max : sum
        }
        func add(_ field: String, _ value: Double) {
            guard value != 0, value.isFinite else { return }
            result.decimals[field, default: 0] += value
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
            case .cancelled(let tier, let cost):
                increment("cancelled:tier\(tier)")
                add("cost_usd", cost)
                add("cost_usd:tier\(tier)", cost)
            case .cacheHit(let saved):
                increment("cache_hits")
                add("claude_equivalent_usd", saved)
            case .dead:
                increment("dead")
            case .duplicate:
                increment("duplicate_provider_calls")
            case .recovered(let count):
                increment("recovered", count)
            case .suppressed(let tier, let reason):
                increment("fallback_suppressed:\(reasonClass(reason))")
                increment("fallback_suppressed:tier\(tier)")
            case .coalesced(let saved):
                increment("coalesced_hits")
                add("coalesced_saved_usd", saved)
            }
        }
        return result
    }

    /// Length of a slot of `KeySpace.recentStats(slot:)`.
    public static let slotSeconds = 10
    /// How long slots are kept: the longest `scaling.window_seconds` and a margin.
    static let slotRetentionSeconds = 3700

    public static func slot(_ date: Date) -> Int {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, seconds > 0, seconds < 1e15 else { return 0 }
        return Int(seconds) / slotSeconds
    }

    /// The fields a recent slot keeps: jobs taken from each tier's queue, answers and their
    /// latency histogram.
    static func isRecentField(_ field: String) -> Bool {
        field.hasPrefix("requests:") || field.hasPrefix("answered:") || field.hasPrefix("latency_le_")
    }

    /// HINCRBY / HINCRBYFLOAT per field, then the hash's EXPIRE; empty when nothing changed.
    public static func commands(for increments: Increments, keys: KeySpace, hour: String) -> [RedisCommand] {
        commands(for: increments, key: keys.stats(hour: hour), retentionSeconds: retentionSeconds)
    }

    /// The same for a recent slot, with its own fields and retention.
    static func commands(for increments: Increments, keys: KeySpace, slot: Int) -> [RedisCommand] {
        commands(for: increments, key: keys.recentStats(slot: slot), retentionSeconds: slotRetentionSeconds)
    }

    private static func commands(for increments: Increments, key: String, retentionSeconds: Int) -> [RedisCommand] {
        guard !increments.isEmpty else { return [] }
        let key = RedisArgument(key)
        var commands: [RedisCommand] = []
        for (field, by) in increments.integers.sorted(by: { $0.key < $1.key }) where by != 0 {
            commands.append(RedisCommand("HINCRBY", key, RedisArgument(field), RedisArgument(by)))
        }
        for (field, value) in increments.decimals.sorted(by: { $0.key < $1.key }) where value != 0 && value.isFinite {
            commands.append(RedisCommand("HINCRBYFLOAT", key, RedisArgument(field), RedisArgument(String(format: "%.9f", value))))
        }
        commands.append(RedisCommand("EXPIRE", key, RedisArgument(retentionSeconds)))
        return commands
    }
}

/// A worker's statistics, counted in memory and added to the hourly hashes in one round trip
/// every `worker.stats_flush_seconds`: per job, the commit then carries only the job's own
/// writes. Counts that could not be written are kept for the next flush.
public final class StatsAccumulator: Sendable {
    /// Counts not yet written: by hour stamp, and by recent slot (`HourlyStats.slot`).
    private struct Pending {
        var hours: [String: HourlyStats.Increments] = [:]
        var slots: [Int: HourlyStats.Increments] = [:]

        mutating func merge(_ other: Pending) {
            for (hour, increments) in other.hours { hours[hour, default: HourlyStats.Increments()].merge(increments) }
            for (slot, increments) in other.slots { slots[slot, default: HourlyStats.Increments()].merge(increments) }
        }
    }

    private let pending = Mutex(Pending())

    public init() {}

    public func add(_ events: [StatsEvent], at date: Date = Date()) {
        guard !events.isEmpty else { return }
        let increments = HourlyStats.increments(for: events)
        var recent = HourlyStats.Increments()
        recent.integers = increments.integers.filter { HourlyStats.isRecentField($0.key) }
        var counted = Pending()
        counted.hours[HourlyStats.hourKey(date)] = increments
        if !recent.isEmpty { counted.slots[HourlyStats.slot(date)] = recent }
        pending.withLock { $0.merge(counted) }
    }

    /// Writes what was counted since the last flush in one MULTI/EXEC; on failure the counts
    /// go back to be written next time.
    public func flush(to connection: RedisConnection, keys: KeySpace) async throws {
        let taken = pending.withLock { pending in
            defer { pending = Pending() }
            return pending
        }
        let commands =
            taken.hours.sorted { $0.key < $1.key }.flatMap { HourlyStats.commands(for: $0.value, keys: keys, hour: $0.key) }
            + taken.slots.sorted { $0.key < $1.key }.flatMap { HourlyStats.commands(for: $0.value, keys: keys, slot: $0.key) }
        guard !commands.isEmpty else { return }
        do {
            _ = try await connection.transaction(commands)
        } catch {
            pending.withLock { $0.merge(taken) }
            throw error
        }
    }
}
