import Foundation
import Hummingbird
import JobProtocol
import Logging
import Producer
import Routing

extension GatewayServer {
    /// `POST /api/chat`: the report's ChatRequest in, its ChatResponse out (`response` and the
    /// result's `metadata`).
    func chat(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let chat = try decode(ChatRequest.self, from: try await body(request, context))
        guard !chat.message.isBlank else { throw Self.invalid("message is empty") }
        try validated { validator in
            if let context = chat.context { try validator.check(free: .object(context), at: "context") }
        }
        let messages = Self.contextMessages(chat.context) + [ChatMessage(role: "user", content: chat.message)]
        var job = try makeJob(
            messages: messages, tierHint: chat.tierHint ?? "auto", forceModel: chat.forceModel, enableFallback: chat.enableFallback ?? true,
            stream: chat.stream == true)
        job.owner = Self.owner(context)
        if job.stream { return try await streamed(job, encoder: ChatEventEncoder(id: job.id), endpoint: "/api/chat", context: context) }
        let result = try await run(job, endpoint: "/api/chat")
        guard result.ok, let metadata = result.metadata else { throw Refusal(response: JobErrorTable.response(for: result)) }
        return GatewayResponse.bytes(Self.chatBody(result.response ?? "", metadata: metadata, id: job.id), status: .ok, headers: [:])
    }

    /// `POST /v1/chat/completions`: OpenAI's shape, so the official client works unchanged.
    func completion(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let body = try decode(CompletionRequest.self, from: try await body(request, context))
        let includeUsage = try Self.includeUsage(body)
        var job = try completionJob(body)
        job.owner = Self.owner(context)
        if job.stream {
            let encoder = OpenAIChunkEncoder(id: "chatcmpl-\(job.id)", created: Int(saturating: job.createdAt), includeUsage: includeUsage)
            return try await streamed(job, encoder: encoder, endpoint: "/v1/chat/completions", context: context)
        }
        let result = try await run(job, endpoint: "/v1/chat/completions")
        guard result.ok, let metadata = result.metadata else { throw Refusal(response: JobErrorTable.response(for: result)) }
        let completion = Self.completionBody(
            id: "chatcmpl-\(job.id)", created: Int(saturating: job.createdAt), content: result.response ?? "", toolCalls: result.toolCalls,
            finishReason: result.finishReason, metadata: metadata)
        return GatewayResponse.bytes(completion, status: .ok, headers: Self.cervellaHeaders(metadata))
    }

    /// The job a `/v1/chat/completions` request (or a Batch API line's body) describes, its
    /// fields checked.
    func completionJob(_ body: CompletionRequest, timeoutSeconds: Double? = nil, priority: JobPriority = .interactive) throws -> Job {
        if let n = body.n, n != 1 { throw Self.invalid("only n = 1 is supported, got \(n)") }
        let params = GenerationParameters(
            maxTokens: body.maxCompletionTokens ?? body.maxTokens, temperature: body.temperature, topP: body.topP, stop: body.stop?.list,
            tools: body.tools, toolChoice: body.toolChoice, responseFormat: body.responseFormat, parallelToolCalls: body.parallelToolCalls,
            seed: body.seed)
        try validated { validator in
            try validator.check(messages: body.messages)
            try validator.check(tools: body.tools, toolChoice: body.toolChoice, responseFormat: body.responseFormat)
            // Both names are checked when both are sent, though max_completion_tokens wins.
            try validator.check(params: GenerationParameters(maxTokens: body.maxTokens), maxTokensField: "max_tokens")
            try validator.check(params: params, maxTokensField: body.maxCompletionTokens == nil ? "max_tokens" : "max_completion_tokens")
        }
        let model = body.model.flatMap { $0 == "auto" || $0.isEmpty ? nil : $0 }
        var job = try makeJob(
            messages: body.messages, tierHint: "auto", forceModel: model, enableFallback: true, params: params,
            timeoutSeconds: timeoutSeconds, stream: body.stream == true)
        job.priority = priority
        return job
    }

    /// `stream_options`: only with `stream: true`, and only `include_usage`, which is honoured
    /// (a last chunk with the usage); any other option is refused by name.
    static func includeUsage(_ body: CompletionRequest) throws -> Bool {
        guard let options = body.streamOptions else { return false }
        guard body.stream == true else { throw invalid("stream_options is only allowed with stream: true") }
        if let other = options.keys.sorted().first(where: { $0 != "include_usage" }), options[other] != .null {
            throw Refusal(
                response: GatewayResponse.error(
                    .badRequest, code: "unsupported_parameter",
                    message: "unsupported field 'stream_options.\(other.prefix(64))': stream_options may hold 'include_usage'; remove it"))
        }
        switch options["include_usage"] {
        case nil, .null?: return false
        case .bool(let value)?: return value
        default: throw invalid("stream_options.include_usage must be true or false")
        }
    }

    /// OpenAI's `chat.completion` object for an answer.
    ///
    /// The response bodies of the request path are written field by field: JSONSerialization's
    /// bridging and key sorting were a quarter of the gateway's CPU per request (docs/BENCHMARKS.md).
    ///
    /// With tool calls the message carries them and its content is null when the model wrote
    /// no text, as OpenAI's is; `finish_reason` is the result's (`stop` when it has none).
    static func completionBody(
        id: String, created: Int, content: String, toolCalls: [ToolCall]? = nil, finishReason: String? = nil, metadata: ResultMetadata
    ) -> [UInt8] {
        GatewayResponse.written { w in
            w.object { w in
                w.key("id"); w.string(id)
                w.key("object"); w.string("chat.completion")
                w.key("created"); w.int(created)
                w.key("model"); w.string(metadata.modelUsed)
                w.key("choices")
                w.array(CollectionOfOne(content)) { w, content in
                    w.object { w in
                        w.key("index"); w.int(0)
                        w.key("message")
                        w.message(
                            ChatMessage(role: "assistant", content: toolCalls != nil && content.isEmpty ? nil : .text(content), toolCalls: toolCalls))
                        w.key("finish_reason"); w.string(finishReason ?? "stop")
                        w.key("logprobs"); w.null()
                    }
                }
                w.key("usage")
                w.object { w in
                    w.key("prompt_tokens"); w.int(metadata.tokensInput)
                    w.key("completion_tokens"); w.int(metadata.tokensOutput)
                    w.key("total_tokens"); w.int(metadata.tokensInput &+ metadata.tokensOutput)
                }
            }
        }
    }

    /// The report's ChatResponse: `response` and the result's `metadata`.
    /// The report's ChatResponse, with the job's `id` (what `POST /api/feedback` rates).
    static func chatBody(_ response: String, metadata: ResultMetadata, id: String? = nil) -> [UInt8] {
        GatewayResponse.written { w in
            w.object { w in
                if let id { w.key("id"); w.string(id) }
                w.key("response"); w.string(response)
                w.key("metadata"); w.metadata(metadata)
            }
        }
    }

    /// `GET /v1/models`: `auto` (the classifier) and each tier's model.
    func models() -> Response {
        var data: [[String: Any]] = [["id": "auto", "object": "model", "created": 0, "owned_by": "cervella"]]
        for tier in Tier.allCases {
            data.append(["id": settings.tier(tier).model, "object": "model", "created": 0, "owned_by": "cervella-tier\(tier)"])
        }
        return GatewayResponse.json(["object": "list", "data": data])
    }

    /// Runs the checks of `RequestValidator`; a failure becomes 400 `invalid_request`.
    func validated(_ checks: (RequestValidator) throws -> Void) throws {
        do {
            try checks(RequestValidator(maxTokensLimit: settings.gateway.maxTokensLimit))
        } catch let failure as RequestValidator.Failure {
            throw Self.invalid(failure.message)
        }
    }

    func makeJob(
        messages: [ChatMessage], tierHint: String, forceModel: String?, enableFallback: Bool, params: GenerationParameters = .init(),
        cache: Bool = true, timeoutSeconds: Double? = nil, metadata: [String: JSONValue] = [:], stream: Bool = false
    ) throws -> Job {
        guard ["auto", "simple", "medium", "complex"].contains(tierHint) else {
            throw Self.invalid("tier_hint must be auto, simple, medium or complex")
        }
        do {
            return try producer.makeJob(
                messages: messages, params: params, tierHint: tierHint, forceModel: forceModel, enableFallback: enableFallback,
                cache: cache, timeoutSeconds: timeoutSeconds ?? settings.gateway.requestTimeoutSeconds, metadata: metadata, stream: stream
            )
        } catch {
            throw Refusal(response: GatewayResponse.error(.notFound, code: "model_not_found", message: error.description))
        }
    }

    /// Enqueue and wait, with back-pressure and a deadline; logs the request line.
    func run(_ job: Job, endpoint: String) async throws -> JobResult {
        // Deadlines are at most a day away (validated), so the millisecond count cannot overflow.
        let remaining = min(86_401, max(0.1, (job.deadlineAt ?? Date().timeIntervalSince1970 + 60) - Date().timeIntervalSince1970 + 1))
        dispatcher.register(job, timeout: .seconds(saturating: remaining))
        let enqueued: Producer.Enqueued
        do {
            let producer = self.producer, maxQueueLength = settings.gateway.maxQueueLength
            enqueued = try await withRedisDeadline { try await producer.enqueue(job, maxQueueLength: maxQueueLength) }
        } catch {
            dispatcher.cancel(job.id)
            throw error
        }
        let result: JobResult
        switch enqueued {
        case .cached(let cached):
            dispatcher.cancel(job.id)
            result = cached
        case .full:
            dispatcher.cancel(job.id)
            logRequest(job, result: nil, endpoint: endpoint, status: 503)
            throw Self.queueFull
        case .queued:
            guard let answered = await dispatcher.wait(job.id) else {
                logRequest(job, result: nil, endpoint: endpoint, status: 504)
                throw Refusal(
                    response: GatewayResponse.error(
                        .gatewayTimeout, code: "deadline_exceeded",
                        message: "no result within \(Int(saturating: remaining)) s; the job id is \(job.id)"))
            }
            result = answered
        }
        logRequest(
            job, result: result, endpoint: endpoint,
            status: result.ok ? 200 : Int(JobErrorTable.entry(for: JobErrorTable.publicCode(result.error?.code)).status.code))
        return result
    }

    /// The report's `context` dict becomes one system message, as compact JSON (a `system`
    /// string in it is used as the system prompt itself).
    static func contextMessages(_ context: [String: JSONValue]?) -> [ChatMessage] { ChatMessage.context(context) }

    static func cervellaHeaders(_ metadata: ResultMetadata) -> HTTPFields {
        var fields = HTTPFields()
        func set(_ name: String, _ value: String) {
            if let field = HTTPFields.Element.Name(name) { fields[field] = value }
        }
        set("x-cervella-tier", String(metadata.tier))
        set("x-cervella-model", metadata.modelUsed)
        set("x-cervella-reason", metadata.tierDecisionReason)
        set("x-cervella-fallback", metadata.fallback ? "true" : "false")
        if let reason = metadata.fallbackReason { set("x-cervella-fallback-reason", reason) }
        set("x-cervella-cache-hit", metadata.cacheHit ? "true" : "false")
        set("x-cervella-cost-usd", String(format: "%.6f", metadata.costUSD))
        set("x-cervella-latency-ms", String(metadata.latencyMs))
        if let confidence = metadata.confidence { set("x-cervella-confidence", String(format: "%.3f", confidence)) }
        return fields
    }

    /// One JSON line per request (report 6.2): sizes, routing, outcome, cost; no text unless
    /// `gateway.log_content` asks for it.
    func logRequest(_ job: Job, result: JobResult?, endpoint: String, status: Int) {
        var metadata: Logger.Metadata = [
            "cervella.request.id": "\(job.id)", "cervella.endpoint": "\(endpoint)", "cervella.status": "\(status)",
            "cervella.messages": "\(job.messages.count)", "cervella.message_chars": "\(job.messages.reduce(0) { $0 + $1.text.count })",
            "cervella.tier_hint": "\(job.tierHint)", "cervella.route.tier": "\(job.route?.tier ?? 0)",
            "cervella.route.reason": "\(job.route?.reason ?? "-")",
            "cervella.success": "\(result?.ok ?? false)",
        ]
        if let m = result?.metadata {
            metadata["cervella.model_used"] = "\(m.modelUsed)"
            metadata["cervella.tier"] = "\(m.tier)"
            metadata["cervella.latency_ms"] = "\(m.latencyMs)"
            metadata["cervella.tokens_input"] = "\(m.tokensInput)"
            metadata["cervella.tokens_output"] = "\(m.tokensOutput)"
            metadata["cervella.confidence"] = "\(m.confidence.map { String($0) } ?? "-")"
            metadata["cervella.fallback"] = "\(m.fallback)"
            metadata["cervella.fallback_reason"] = "\(m.fallbackReason ?? "-")"
            metadata["cervella.cost_usd"] = "\(m.costUSD)"
            metadata["cervella.cache_hit"] = "\(m.cacheHit)"
        }
        if let error = result?.error { metadata["cervella.error_code"] = "\(error.code)" }
        if settings.gateway.logContent {
            metadata["cervella.prompt"] = "\(job.messages.last?.text ?? "")"
            metadata["cervella.answer"] = "\(result?.response ?? "")"
        }
        logger.info("request", metadata: metadata)
    }
}
