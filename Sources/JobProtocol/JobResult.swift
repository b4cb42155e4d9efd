import Foundation

/// The result a worker pushes to the job's reply list: an answer (`ok: true`) or an error.
public struct JobResult: Codable, Sendable, Equatable {
    public var v: Int
    public var id: String
    public var ok: Bool
    public var response: String?
    public var metadata: ResultMetadata?
    public var error: ResultError?

    public static func success(id: String, response: String, metadata: ResultMetadata) -> JobResult {
        JobResult(v: Job.version, id: id, ok: true, response: response, metadata: metadata, error: nil)
    }

    public static func failure(id: String, code: String, message: String) -> JobResult {
        JobResult(v: Job.version, id: id, ok: false, response: nil, metadata: nil, error: ResultError(code: code, message: message))
    }

    enum CodingKeys: String, CodingKey { case v, id, ok, response, metadata, error }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(v, forKey: .v)
        try c.encode(id, forKey: .id)
        try c.encode(ok, forKey: .ok)
        if ok {
            try c.encode(response ?? "", forKey: .response)
            try c.encodeIfPresent(metadata, forKey: .metadata)
        } else {
            try c.encodeIfPresent(error, forKey: .error)
        }
    }
}

/// Why a job has no answer. Codes are stable: `deadline_exceeded`, `invalid_job`,
/// `provider_unavailable`, `error_<provider code>`, …
public struct ResultError: Codable, Sendable, Equatable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// The report's ResponseMetadata plus the pool's own fields (queue wait, cache, worker).
public struct ResultMetadata: Codable, Sendable, Equatable {
    public var modelUsed: String
    public var tier: Int
    public var latencyMs: Int
    public var queueMs: Int
    public var confidence: Double?
    public var costUSD: Double
    public var tokensInput: Int
    public var tokensOutput: Int
    public var fallback: Bool
    public var fallbackReason: String?
    public var originalModel: String?
    public var originalConfidence: Double?
    public var tierDecisionReason: String
    public var cacheHit: Bool
    public var worker: String
    public var timestamp: String
    /// Characters of `<think>` reasoning removed from the answer (tier 2), when there was any.
    public var reasoningChars: Int?
    /// Why the answer would have gone to Claude when the request said `enable_fallback: false`.
    public var fallbackSuppressed: String?

    public init(
        modelUsed: String, tier: Int, latencyMs: Int, queueMs: Int, confidence: Double?, costUSD: Double,
        tokensInput: Int, tokensOutput: Int, fallback: Bool = false, fallbackReason: String? = nil,
        originalModel: String? = nil, originalConfidence: Double? = nil, tierDecisionReason: String,
        cacheHit: Bool = false, worker: String, timestamp: String, reasoningChars: Int? = nil, fallbackSuppressed: String? = nil
    ) {
        self.reasoningChars = reasoningChars
        self.fallbackSuppressed = fallbackSuppressed
        self.modelUsed = modelUsed
        self.tier = tier
        self.latencyMs = latencyMs
        self.queueMs = queueMs
        self.confidence = confidence
        self.costUSD = costUSD
        self.tokensInput = tokensInput
        self.tokensOutput = tokensOutput
        self.fallback = fallback
        self.fallbackReason = fallbackReason
        self.originalModel = originalModel
        self.originalConfidence = originalConfidence
        self.tierDecisionReason = tierDecisionReason
        self.cacheHit = cacheHit
        self.worker = worker
        self.timestamp = timestamp
    }

    enum CodingKeys: String, CodingKey {
        case modelUsed = "model_used", tier, latencyMs = "latency_ms", queueMs = "queue_ms", confidence
        case costUSD = "cost_usd", tokensInput = "tokens_input", tokensOutput = "tokens_output", fallback
        case fallbackReason = "fallback_reason", originalModel = "original_model"
        case originalConfidence = "original_confidence", tierDecisionReason = "tier_decision_reason"
        case cacheHit = "cache_hit", worker, timestamp
        case reasoningChars = "reasoning_chars", fallbackSuppressed = "fallback_suppressed"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelUsed, forKey: .modelUsed)
        try c.encode(tier, forKey: .tier)
        try c.encode(latencyMs, forKey: .latencyMs)
        try c.encode(queueMs, forKey: .queueMs)
        try c.encode(confidence, forKey: .confidence)
        try c.encode(costUSD, forKey: .costUSD)
        try c.encode(tokensInput, forKey: .tokensInput)
        try c.encode(tokensOutput, forKey: .tokensOutput)
        try c.encode(fallback, forKey: .fallback)
        try c.encode(fallbackReason, forKey: .fallbackReason)
        try c.encode(originalModel, forKey: .originalModel)
        try c.encode(originalConfidence, forKey: .originalConfidence)
        try c.encode(tierDecisionReason, forKey: .tierDecisionReason)
        try c.encode(cacheHit, forKey: .cacheHit)
        try c.encode(worker, forKey: .worker)
        try c.encode(timestamp, forKey: .timestamp)
        try c.encodeIfPresent(reasoningChars, forKey: .reasoningChars)
        try c.encodeIfPresent(fallbackSuppressed, forKey: .fallbackSuppressed)
    }
}

extension JobResult {
    /// A cached result re-issued for a new request: same answer, the new job's id, no cost,
    /// `cache_hit: true`, and latency measured for this request.
    public static func fromCache(_ bytes: [UInt8], for job: Job, worker: String, now: Date = Date()) -> JobResult {
        guard var result = try? JobResult.decode(bytes), result.ok, var metadata = result.metadata else {
            return .failure(id: job.id, code: "bad_cache_entry", message: "the cache entry is not a valid result; delete the key or wait for its TTL")
        }
        result.id = job.id
        metadata.cacheHit = true
        metadata.costUSD = 0
        metadata.queueMs = 0
        metadata.worker = worker
        metadata.latencyMs = Int.milliseconds(fromSeconds: now.timeIntervalSince1970 - job.createdAt)
        metadata.timestamp = ResultMetadata.timestamp(now)
        result.metadata = metadata
        return result
    }
}

extension ResultMetadata {
    /// ISO 8601 in UTC, seconds precision: `2026-01-10T14:23:45Z`.
    public static func timestamp(_ date: Date = Date()) -> String {
        UTCTime(date).iso8601
    }
}
