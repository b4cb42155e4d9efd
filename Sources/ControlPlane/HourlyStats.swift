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
    /// What one provider call spent, by tier and model, for the cost report: added beside the
    /// `.answered`, `.fellBack` or `.cancelled` that counts the same call pool-wide.
    case spent(CallSpend)
}

/// One provider call's spend: the model that served it, the tokens of the answer it gave, and
/// what it cost (the same figure as the pool-wide event's `costUSD`).
public struct CallSpend: Sendable, Equatable {
    /// What became of the call.
    public enum Outcome: Sendable, Equatable {
        /// Its answer was delivered.
        case answered
        /// A small-model answer sent on to Claude: spent, then discarded.
        case discarded
        /// Stopped by its producer's cancel.
        case cancelled
    }

    public var tier: Tier
    public var model: String
    public var outcome: Outcome
    /// The call served a fallback hop (a job from the fallback queue), not the job's own route.
    public var fallbackHop: Bool
    public var inputTokens: Int
    public var outputTokens: Int
    public var costUSD: Double

    public init(tier: Tier, model: String, outcome: Outcome, fallbackHop: Bool, inputTokens: Int, outputTokens: Int, costUSD: Double) {
        self.tier = tier
        self.model = model
        self.outcome = outcome
        self.fallbackHop = fallbackHop
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costUSD = costUSD
    }
}

/// Per-hour counters shared by every worker and producer: HINCRBY into one hash per hour,
/// inside the same MULTI as the job's outcome, so the figures never disagree with the results.
public enum HourlyStats {
    /// Upper bounds (ms) of the latency histogram buckets; the last bucket is "+inf".
    public static let latencyBuckets = [100, 250, 500, 1000, 2000, 5000, 10000]
    /// Hours kept: 35 days, so that the cost report (`CostReport`) can read a whole calendar
    /// month, and last week, at any time of the month. An hour's hash is a few kilobytes
    /// (docs/PROTOCOL.md), so the 840 hours kept are a few megabytes.
    public static let retentionSeconds = 35 * 24 * 3600

    /// The longest model name kept in a field name (`model_cost_usd:tier1:<model>`): names
    /// come from configuration, but a field name must stay bounded whatever a worker was given.
    public static let maxModelNameLength = 64

    /// The field of a per-model figure: `<name>:tier<N>:<model>`, the model cut to
    /// `maxModelNameLength` characters.
    public static func modelField(_ name: String, tier: Tier, model: String) -> String {
        "\(name):tier\(tier):\(model.prefix(maxModelNameLength))"
    }

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
                // The discarded attempt is part of what the fallback cost.
                add("fallback_cost_usd", cost)
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
                add("cache_saved_usd", saved)
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
            case .spent(let spend):
                increment(modelField("model_calls", tier: spend.tier, model: spend.model))
                add(modelField("model_cost_usd", tier: spend.tier, model: spend.model), spend.costUSD)
                if spend.outcome == .answered {
                    increment(modelField("model_answered", tier: spend.tier, model: spend.model))
                    increment(modelField("model_tokens_input", tier: spend.tier, model: spend.model), max(0, spend.inputTokens))
                    increment(modelField("model_tokens_output", tier: spend.tier, model: spend.model), max(0, spend.outputTokens))
                }
                // Claude's side of a fallback hop; the small side is counted at `.fellBack`.
                if spend.fallbackHop { add("fallback_cost_usd", spend.costUSD) }
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
