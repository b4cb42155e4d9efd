import Foundation

/// A chat job, version 1: one element of a Redis queue list (docs/PROTOCOL.md).
///
/// Producers in any language write this JSON. Decoding is strict about what the worker
/// cannot guess (`v`, `id`, `messages`) and lenient about what has a safe default
/// (`attempt`, `params`, `tier_hint`, `cache`, `metadata`, `reply_to`, the timestamps).
public struct Job: Sendable, Equatable {
    public static let version = 1

    public var v: Int
    public var id: String
    /// The reply list; always `<prefix>:reply:<id>` (workers refuse any other key).
    public var replyTo: String
    public var createdAt: Double
    /// Unix time after which no provider is called and the job is answered `deadline_exceeded`.
    public var deadlineAt: Double?
    public var attempt: Int
    public var messages: [ChatMessage]
    public var params: GenerationParameters
    public var tierHint: String
    public var forceModel: String?
    public var enableFallback: Bool
    public var cache: Bool
    /// Set by a producer whose enqueue looked the cache up (and missed) in the same script that
    /// pushed the job: the worker then skips its own lookup, one round trip per job.
    public var cacheChecked: Bool
    /// The producer reads the answer as it is written, from the job's stream
    /// (`KeySpace.stream`); the result still goes to `reply_to`. Delivery only: not in the cache key.
    public var stream: Bool
    /// The job group (fan-out) this job is a child of (`KeySpace.group`): its result is also
    /// recorded in the group's, and cancelling the group cancels it. Delivery only: not in the
    /// cache key.
    public var group: String?
    /// The lane the job waits in (`QueueName.lane`): written only when `bulk`. Not in the
    /// cache key.
    public var priority: JobPriority
    public var route: Route?
    public var fallbackFrom: FallbackOrigin?
    public var metadata: [String: JSONValue]
    /// Each time the job was taken back from a worker that died holding it.
    public var recoveries: [Recovery]
    /// Who submitted the job through the gateway: the digest of its API key (`"1"` on a
    /// gateway without keys). Only that key may rate the answer (`POST /api/feedback`), and a
    /// worker keeps the answer's confidence features for it (`KeySpace.gateRecord`). Not part
    /// of the cache key; absent for jobs from other producers.
    public var owner: String?

    public init(
        id: String, replyTo: String, createdAt: Double, deadlineAt: Double?, attempt: Int = 0,
        messages: [ChatMessage], params: GenerationParameters = .init(), tierHint: String = "auto",
        forceModel: String? = nil, enableFallback: Bool = true, cache: Bool = true, route: Route? = nil,
        fallbackFrom: FallbackOrigin? = nil, metadata: [String: JSONValue] = [:], recoveries: [Recovery] = [], cacheChecked: Bool = false,
        stream: Bool = false, group: String? = nil, priority: JobPriority = .interactive
    ) {
        self.stream = stream
        self.group = group
        self.priority = priority
        self.recoveries = recoveries
        self.cacheChecked = cacheChecked
        self.v = Self.version
        self.id = id
        self.replyTo = replyTo
        self.createdAt = createdAt
        self.deadlineAt = deadlineAt
        self.attempt = attempt
        self.messages = messages
        self.params = params
        self.tierHint = tierHint
        self.forceModel = forceModel
        self.enableFallback = enableFallback
        self.cache = cache
        self.route = route
        self.fallbackFrom = fallbackFrom
        self.metadata = metadata
    }
}

extension Job {
    /// The work queue a quarantined job came from: where it was when its worker died, else
    /// where its route or fallback origin put it.
    public var originQueue: QueueName {
        if let last = recoveries.last?.queue, let queue = QueueName(rawValue: last), queue != .quarantine { return queue }
        if fallbackFrom != nil { return QueueName.fallback.lane(priority) }
        return (route.flatMap { Tier($0.tier)?.queue } ?? .tier3).lane(priority)
    }
}

/// Where the producer sent the job, and why.
public struct Route: Codable, Sendable, Equatable, Hashable {
    /// The tier's number, as on the wire (`Tier(number)` in the code).
    public var tier: Int
    public var model: String
    public var reason: String

    public init(tier: Int, model: String, reason: String) {
        self.tier = tier
        self.model = model
        self.reason = reason
    }
}

/// Set on a job that a tier-1/2 worker pushed to the fallback queue.
public struct FallbackOrigin: Codable, Sendable, Equatable {
    /// The tier's number, as on the wire (`Tier(number)` in the code).
    public var tier: Int
    public var model: String
    public var reason: String
    public var confidence: Double?
    public var latencyMs: Int?
    /// What the discarded attempt cost; added to the final answer's `cost_usd`.
    public var costUSD: Double?

    public init(tier: Int, model: String, reason: String, confidence: Double?, latencyMs: Int?, costUSD: Double? = nil) {
        self.tier = tier
        self.model = model
        self.reason = reason
        self.confidence = confidence
        self.latencyMs = latencyMs
        self.costUSD = costUSD
    }

    enum CodingKeys: String, CodingKey {
        case tier, model, reason, confidence
        case latencyMs = "latency_ms"
        case costUSD = "cost_usd"
    }
}

/// One recovery of a job from a dead worker's processing list.
public struct Recovery: Codable, Sendable, Equatable {
    public var worker: String
    public var at: Double
    public var queue: String

    public init(worker: String, at: Double, queue: String) {
        self.worker = worker
        self.at = at
        self.queue = queue
    }
}
