import Foundation

// The result's wire contract (docs/PROTOCOL.md) in its three forms, side by side. The `Codable`
// conformances are the reference; `init?(json:)` reads plain results without JSONDecoder and
// answers nil for anything else; `jsonBytes()` writes them without JSONEncoder. A field added
// to the contract is added to all three, here; FastReaderAgreementTests holds them equal.

// MARK: - The reference

extension JobResult: Codable {
    enum CodingKeys: String, CodingKey {
        case v, id, ok, response, metadata, error
        case toolCalls = "tool_calls"
        case finishReason = "finish_reason"
    }

    /// As the compiler would synthesize it: required fields decoded, optional ones read when
    /// present and not null. Written out because a conformance in another file than the type
    /// cannot be synthesized.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        v = try c.decode(Int.self, forKey: .v)
        id = try c.decode(String.self, forKey: .id)
        ok = try c.decode(Bool.self, forKey: .ok)
        response = try c.decodeIfPresent(String.self, forKey: .response)
        toolCalls = try c.decodeIfPresent([ToolCall].self, forKey: .toolCalls)
        finishReason = try c.decodeIfPresent(String.self, forKey: .finishReason)
        metadata = try c.decodeIfPresent(ResultMetadata.self, forKey: .metadata)
        error = try c.decodeIfPresent(ResultError.self, forKey: .error)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(v, forKey: .v)
        try c.encode(id, forKey: .id)
        try c.encode(ok, forKey: .ok)
        if ok {
            try c.encode(response ?? "", forKey: .response)
            try c.encodeIfPresent(toolCalls, forKey: .toolCalls)
            try c.encodeIfPresent(finishReason, forKey: .finishReason)
            try c.encodeIfPresent(metadata, forKey: .metadata)
        } else {
            try c.encodeIfPresent(error, forKey: .error)
        }
    }
}

extension ResultMetadata: Codable {
    enum CodingKeys: String, CodingKey {
        case modelUsed = "model_used", tier, latencyMs = "latency_ms", queueMs = "queue_ms", confidence
        case costUSD = "cost_usd", tokensInput = "tokens_input", tokensOutput = "tokens_output", fallback
        case fallbackReason = "fallback_reason", originalModel = "original_model"
        case originalConfidence = "original_confidence", tierDecisionReason = "tier_decision_reason"
        case cacheHit = "cache_hit", worker, timestamp
        case reasoningChars = "reasoning_chars", fallbackSuppressed = "fallback_suppressed"
        case structureProblem = "structure_problem"
        case confidenceGate = "confidence_gate"
        case coalesced
        case messageBatch = "message_batch"
    }

    /// As the compiler would synthesize it (see `JobResult.init(from:)`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelUsed = try c.decode(String.self, forKey: .modelUsed)
        tier = try c.decode(Int.self, forKey: .tier)
        latencyMs = try c.decode(Int.self, forKey: .latencyMs)
        queueMs = try c.decode(Int.self, forKey: .queueMs)
        confidence = try c.decodeIfPresent(Double.self, forKey: .confidence)
        costUSD = try c.decode(Double.self, forKey: .costUSD)
        tokensInput = try c.decode(Int.self, forKey: .tokensInput)
        tokensOutput = try c.decode(Int.self, forKey: .tokensOutput)
        fallback = try c.decode(Bool.self, forKey: .fallback)
        fallbackReason = try c.decodeIfPresent(String.self, forKey: .fallbackReason)
        originalModel = try c.decodeIfPresent(String.self, forKey: .originalModel)
        originalConfidence = try c.decodeIfPresent(Double.self, forKey: .originalConfidence)
        tierDecisionReason = try c.decode(String.self, forKey: .tierDecisionReason)
        cacheHit = try c.decode(Bool.self, forKey: .cacheHit)
        worker = try c.decode(String.self, forKey: .worker)
        timestamp = try c.decode(String.self, forKey: .timestamp)
        reasoningChars = try c.decodeIfPresent(Int.self, forKey: .reasoningChars)
        fallbackSuppressed = try c.decodeIfPresent(String.self, forKey: .fallbackSuppressed)
        structureProblem = try c.decodeIfPresent(String.self, forKey: .structureProblem)
        confidenceGate = try c.decodeIfPresent(String.self, forKey: .confidenceGate)
        coalesced = try c.decodeIfPresent(Bool.self, forKey: .coalesced)
        messageBatch = try c.decodeIfPresent(String.self, forKey: .messageBatch)
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
        try c.encodeIfPresent(structureProblem, forKey: .structureProblem)
        try c.encodeIfPresent(confidenceGate, forKey: .confidenceGate)
        try c.encodeIfPresent(coalesced, forKey: .coalesced)
        try c.encodeIfPresent(messageBatch, forKey: .messageBatch)
    }
}

extension ResultError: Codable {
    enum CodingKeys: String, CodingKey { case code, message }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        code = try c.decode(String.self, forKey: .code)
        message = try c.decode(String.self, forKey: .message)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(code, forKey: .code)
        try c.encode(message, forKey: .message)
    }
}

// MARK: - The fast reader

extension JobResult {
    /// The id of a result as `jsonBytes()` writes it (`{"v":1,"id":"…"`), without decoding the
    /// rest; nil for any other layout or an id with escapes.
    public static func peekID(_ bytes: [UInt8]) -> String? {
        let head = Array(#"{"v":1,"id":""#.utf8)
        guard bytes.count > head.count, bytes.starts(with: head) else { return nil }
        guard let end = bytes[head.count...].firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }),
            bytes[end] == UInt8(ascii: "\"")
        else { return nil }
        return String(validating: bytes[head.count..<end], as: UTF8.self)
    }

    /// Reads a result: the fast reader when it can, JSONDecoder (and its errors) otherwise.
    public static func decode(_ bytes: [UInt8]) throws -> JobResult {
        if let result = JobResult(json: bytes) { return result }
        return try JSONDecoder().decode(JobResult.self, from: Data(bytes))
    }

    /// The result in `bytes` when it is plainly well-formed; nil means "ask JSONDecoder".
    public init?(json bytes: [UInt8]) {
        guard let root = JSONFields(JSONValue.parse(bytes)),
            let v = root.int("v"), let v, let id = root.string("id"), let id, let ok = root.bool("ok"), let ok,
            let response = root.string("response"), let metadataFields = root.object("metadata"), let errorFields = root.object("error"),
            let toolCalls = root.toolCalls("tool_calls"), let finishReason = root.string("finish_reason")
        else { return nil }
        var metadata: ResultMetadata?
        if let m = metadataFields {
            guard let modelUsed = m.string("model_used"), let modelUsed, let tier = m.int("tier"), let tier,
                let latencyMs = m.int("latency_ms"), let latencyMs, let queueMs = m.int("queue_ms"), let queueMs,
                let confidence = m.double("confidence"), let costUSD = m.double("cost_usd"), let costUSD,
                let tokensInput = m.int("tokens_input"), let tokensInput, let tokensOutput = m.int("tokens_output"), let tokensOutput,
                let fallback = m.bool("fallback"), let fallback, let fallbackReason = m.string("fallback_reason"),
                let originalModel = m.string("original_model"), let originalConfidence = m.double("original_confidence"),
                let decision = m.string("tier_decision_reason"), let decision, let cacheHit = m.bool("cache_hit"), let cacheHit,
                let worker = m.string("worker"), let worker, let timestamp = m.string("timestamp"), let timestamp,
                let reasoningChars = m.int("reasoning_chars"), let suppressed = m.string("fallback_suppressed"),
                let structureProblem = m.string("structure_problem"), let confidenceGate = m.string("confidence_gate"),
                let coalesced = m.bool("coalesced"), let messageBatch = m.string("message_batch")
            else { return nil }
            metadata = ResultMetadata(
                modelUsed: modelUsed, tier: tier, latencyMs: latencyMs, queueMs: queueMs, confidence: confidence, costUSD: costUSD,
                tokensInput: tokensInput, tokensOutput: tokensOutput, fallback: fallback, fallbackReason: fallbackReason,
                originalModel: originalModel, originalConfidence: originalConfidence, tierDecisionReason: decision,
                cacheHit: cacheHit, worker: worker, timestamp: timestamp, reasoningChars: reasoningChars, fallbackSuppressed: suppressed,
                structureProblem: structureProblem, confidenceGate: confidenceGate, coalesced: coalesced
            )
            metadata?.messageBatch = messageBatch
        }
        var error: ResultError?
        if let e = errorFields {
            guard let code = e.string("code"), let code, let message = e.string("message"), let message else { return nil }
            error = ResultError(code: code, message: message)
        }
        self.init(v: v, id: id, ok: ok, response: response, toolCalls: toolCalls, finishReason: finishReason, metadata: metadata, error: error)
    }
}

// MARK: - The writer

extension JobResult {
    /// The result's JSON, as `encode(to:)` describes it, without JSONEncoder.
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter()
        w.object { w in
            w.key("v"); w.int(v)
            w.key("id"); w.string(id)
            w.key("ok"); w.bool(ok)
            if ok {
                w.key("response"); w.string(response ?? "")
                if let toolCalls { w.key("tool_calls"); w.array(toolCalls) { $0.toolCall($1) } }
                if let finishReason { w.key("finish_reason"); w.string(finishReason) }
                if let metadata {
                    w.key("metadata"); w.metadata(metadata)
                }
            } else if let error {
                w.key("error");
                w.object { w in
                    w.key("code"); w.string(error.code)
                    w.key("message"); w.string(error.message)
                }
            }
        }
        return w.bytes
    }
}

extension JSONWriter {
    /// A result's `metadata` object, as `ResultMetadata.encode(to:)` describes it; also the
    /// gateway's ChatResponse.
    public mutating func metadata(_ metadata: ResultMetadata) {
        object { w in
            w.key("model_used"); w.string(metadata.modelUsed)
            w.key("tier"); w.int(metadata.tier)
            w.key("latency_ms"); w.int(metadata.latencyMs)
            w.key("queue_ms"); w.int(metadata.queueMs)
            w.key("confidence"); w.double(metadata.confidence)
            w.key("cost_usd"); w.double(metadata.costUSD)
            w.key("tokens_input"); w.int(metadata.tokensInput)
            w.key("tokens_output"); w.int(metadata.tokensOutput)
            w.key("fallback"); w.bool(metadata.fallback)
            w.key("fallback_reason"); w.string(metadata.fallbackReason)
            w.key("original_model"); w.string(metadata.originalModel)
            w.key("original_confidence"); w.double(metadata.originalConfidence)
            w.key("tier_decision_reason"); w.string(metadata.tierDecisionReason)
            w.key("cache_hit"); w.bool(metadata.cacheHit)
            w.key("worker"); w.string(metadata.worker)
            w.key("timestamp"); w.string(metadata.timestamp)
            if let chars = metadata.reasoningChars { w.key("reasoning_chars"); w.int(chars) }
            if let suppressed = metadata.fallbackSuppressed { w.key("fallback_suppressed"); w.string(suppressed) }
            if let problem = metadata.structureProblem { w.key("structure_problem"); w.string(problem) }
            if let gate = metadata.confidenceGate { w.key("confidence_gate"); w.string(gate) }
            if let coalesced = metadata.coalesced { w.key("coalesced"); w.bool(coalesced) }
            if let batch = metadata.messageBatch { w.key("message_batch"); w.string(batch) }
        }
    }
}
