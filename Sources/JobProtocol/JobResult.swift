import Foundation

/// The result a worker pushes to the job's reply list: an answer (`ok: true`) or an error.
public struct JobResult: Sendable, Equatable {
    public var v: Int
    public var id: String
    public var ok: Bool
    public var response: String?
    /// The functions the model asks the caller to run (an agent's step); `response` is then
    /// whatever text came with them, often empty.
    public var toolCalls: [ToolCall]?
    /// Why the model stopped, in OpenAI's words: `stop`, `length`, `tool_calls`, `content_filter`.
    public var finishReason: String?
    public var metadata: ResultMetadata?
    public var error: ResultError?

    public static func success(
        id: String, response: String, metadata: ResultMetadata, toolCalls: [ToolCall]? = nil, finishReason: String? = nil
    ) -> JobResult {
        JobResult(
            v: Job.version, id: id, ok: true, response: response, toolCalls: toolCalls, finishReason: finishReason, metadata: metadata, error: nil)
    }

    public static func failure(id: String, code: String, message: String) -> JobResult {
        JobResult(v: Job.version, id: id, ok: false, response: nil, metadata: nil, error: ResultError(code: code, message: message))
    }
}

/// Why a job has no answer. Codes are stable: `deadline_exceeded`, `invalid_job`,
/// `provider_unavailable`, `error_<provider code>`, …
public struct ResultError: Sendable, Equatable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// The report's ResponseMetadata plus the pool's own fields (queue wait, cache, worker).
public struct ResultMetadata: Sendable, Equatable {
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
    /// Claude's answer does not hold the structure the job asked for (`unknown_tool`,
    /// `invalid_tool_call`, `schema_mismatch`): reported, since there is no tier above it.
    public var structureProblem: String?
    /// `"off"` when a small model's answer streamed `live`: tokens reached the client before
    /// the answer could be scored, so a low score could not send it to Claude.
    public var confidenceGate: String?
    /// `true` when the answer is an identical in-flight request's (single-flight): its
    /// provider call served this request too, which was never queued. Absent otherwise.
    public var coalesced: Bool?
    /// The id of the Message Batch (`msgbatch_…`) that answered, at half Claude's price; absent
    /// for an answer of a Messages call of its own (docs/ROUTING.md, "Message Batches").
    public var messageBatch: String?

    public init(
        modelUsed: String, tier: Int, latencyMs: Int, queueMs: Int, confidence: Double?, costUSD: Double,
        tokensInput: Int, tokensOutput: Int, fallback: Bool = false, fallbackReason: String? = nil,
        originalModel: String? = nil, originalConfidence: Double? = nil, tierDecisionReason: String,
        cacheHit: Bool = false, worker: String, timestamp: String, reasoningChars: Int? = nil, fallbackSuppressed: String? = nil,
        structureProblem: String? = nil, confidenceGate: String? = nil, coalesced: Bool? = nil
    ) {
        self.coalesced = coalesced
        self.confidenceGate = confidenceGate
        self.structureProblem = structureProblem
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
