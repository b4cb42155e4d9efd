/// The ranges a job's numbers and sizes must be in before a worker does arithmetic with them.
///
/// A job is input from any producer that can push to a queue, so nothing in it is trusted:
/// `"deadline_at": 1e300` once crashed every worker that took it. These bounds are wide enough
/// for any honest producer and narrow enough that no conversion or sum on them can overflow.
public enum JobLimits {
    /// Timestamps (`created_at`, `deadline_at`, a recovery's `at`) are Unix seconds between
    /// 2000-01-01 and 2100-01-01. A clock that is off by hours still passes; 1e300, a value in
    /// milliseconds (1.7e12) or a negative one does not.
    public static let timestamps: ClosedRange<Double> = 946_684_800...4_102_444_800
    /// Larger payloads are dead-lettered unread (the gateway's default body limit is 1 MiB).
    public static let maxPayloadBytes = 16 << 20
    /// `id`: bytes of UTF-8; ids name keys (reply, stream, cancel flag).
    public static let maxIDLength = 200
    /// Children of one job group (`POST /api/groups`, `Producer.submitGroup`): the group's
    /// completion reads them all in one Redis script.
    public static let maxGroupChildren = 10_000
    /// `attempt`: recoveries and retries; the reaper retires a job long before this.
    public static let attempts: ClosedRange<Int> = 0...1_000
    public static let maxTokens: ClosedRange<Int> = 1...1_048_576
    public static let temperature: ClosedRange<Double> = 0...2
    public static let topP: ClosedRange<Double> = 0...1
    public static let maxStopSequences = 32
    public static let maxMessages = 100_000
    /// Nesting of `metadata`, of content parts and of the tools' schemas.
    public static let maxNesting = 32
    /// `params.tools`: OpenAI allows 128.
    public static let maxTools = 128
    public static let maxRecoveries = 100
    public static let tiers: ClosedRange<Int> = Tier.tier1.number...Tier.claude.number
    /// `fallback_from.latency_ms`: one day.
    public static let latencyMs: ClosedRange<Int> = 0...86_400_000
    /// `fallback_from.cost_usd`: what one discarded attempt may have cost.
    public static let costUSD: ClosedRange<Double> = 0...1_000_000
    public static let confidence: ClosedRange<Double> = 0...1

    /// Why `job` is out of range, naming the field; nil when every number and size is fine.
    public static func violation(in job: Job) -> String? {
        func stamp(_ name: String, _ value: Double) -> String? {
            timestamps.contains(value) ? nil : "field '\(name)' must be Unix time in seconds between 2000 and 2100 (got \(value))"
        }
        if let problem = stamp("created_at", job.createdAt) { return problem }
        if let deadline = job.deadlineAt, let problem = stamp("deadline_at", deadline) { return problem }
        if let group = job.group, group.isEmpty || group.utf8.count > maxIDLength || group.contains(":") {
            return "field 'group' must be a group id of 1 to \(maxIDLength) bytes without ':'"
        }
        if let owner = job.owner, owner.isEmpty || owner.utf8.count > maxIDLength {
            return "field 'owner' must be 1 to \(maxIDLength) bytes"
        }
        if !attempts.contains(job.attempt) { return "field 'attempt' must be in \(attempts) (got \(job.attempt))" }
        if job.messages.count > maxMessages { return "field 'messages' has \(job.messages.count) entries; at most \(maxMessages)" }
        for (index, message) in job.messages.enumerated() {
            if case .parts(let parts) = message.content {
                if parts.contains(where: { $0.nesting > maxNesting }) {
                    return "field 'messages[\(index)].content' is nested deeper than \(maxNesting) levels"
                }
                if !parts.allSatisfy(\.isFinite) { return "field 'messages[\(index)].content' holds a number that is not finite" }
            }
        }
        let params = job.params
        if let value = params.maxTokens, !maxTokens.contains(value) { return "field 'params.max_tokens' must be in \(maxTokens) (got \(value))" }
        if let value = params.temperature, !temperature.contains(value) {
            return "field 'params.temperature' must be in \(temperature) (got \(value))"
        }
        if let value = params.topP, !topP.contains(value) { return "field 'params.top_p' must be in \(topP) (got \(value))" }
        if let stop = params.stop, stop.count > maxStopSequences {
            return "field 'params.stop' has \(stop.count) entries; at most \(maxStopSequences)"
        }
        if let tools = params.tools, tools.count > maxTools { return "field 'params.tools' has \(tools.count) entries; at most \(maxTools)" }
        for (name, value) in [
            ("tools", params.tools.map(JSONValue.array)), ("tool_choice", params.toolChoice), ("response_format", params.responseFormat),
        ] {
            guard let value else { continue }
            if value.nesting > maxNesting { return "field 'params.\(name)' is nested deeper than \(maxNesting) levels" }
            if !value.isFinite { return "field 'params.\(name)' holds a number that is not finite" }
        }
        if let route = job.route, !tiers.contains(route.tier) { return "field 'route.tier' must be 1, 2 or 3 (got \(route.tier))" }
        if let origin = job.fallbackFrom {
            if !tiers.contains(origin.tier) { return "field 'fallback_from.tier' must be 1, 2 or 3 (got \(origin.tier))" }
            if let value = origin.latencyMs, !latencyMs.contains(value) {
                return "field 'fallback_from.latency_ms' must be in \(latencyMs) (got \(value))"
            }
            if let value = origin.costUSD, !costUSD.contains(value) { return "field 'fallback_from.cost_usd' must be in \(costUSD) (got \(value))" }
            if let value = origin.confidence, !confidence.contains(value) {
                return "field 'fallback_from.confidence' must be in \(confidence) (got \(value))"
            }
        }
        if job.metadata.values.contains(where: { $0.nesting > maxNesting - 1 }) {
            return "field 'metadata' is nested deeper than \(maxNesting) levels"
        }
        if !job.metadata.values.allSatisfy(\.isFinite) { return "field 'metadata' holds a number that is not finite" }
        if job.recoveries.count > maxRecoveries { return "field 'recoveries' has \(job.recoveries.count) entries; at most \(maxRecoveries)" }
        for (index, recovery) in job.recoveries.enumerated() {
            if let problem = stamp("recoveries[\(index)].at", recovery.at) { return problem }
        }
        return nil
    }
}

extension JSONValue {
    /// Levels of arrays and objects: 0 for a scalar.
    var nesting: Int {
        switch self {
        case .array(let elements): return 1 + (elements.map(\.nesting).max() ?? 0)
        case .object(let fields): return 1 + (fields.values.map(\.nesting).max() ?? 0)
        default: return 0
        }
    }

    /// False when any number inside is infinite or NaN (which JSON cannot carry).
    var isFinite: Bool {
        switch self {
        case .number(let value): return value.isFinite
        case .array(let elements): return elements.allSatisfy(\.isFinite)
        case .object(let fields): return fields.values.allSatisfy(\.isFinite)
        default: return true
        }
    }
}
