import Foundation
import Hummingbird
import Logging

/// vLLM's OpenAI-compatible endpoints: `POST /v1/chat/completions` and `GET /v1/models`.
///
/// The bodies copy what vLLM actually sends, not the OpenAI reference: `reasoning_content`,
/// `stop_reason` and `prompt_logprobs` are present as `null`, `tool_calls` is an empty
/// array, and errors use vLLM's flat shape `{"object":"error","message":…,"type":…,
/// "param":null,"code":<status>}`. A client tested against the simulator therefore parses
/// a real vLLM host without surprises. Unknown request fields are ignored, as vLLM does.
/// With `"stream": true` the same answer is streamed as vLLM streams it
/// (`OpenAIRoutes+Streaming.swift`).
struct OpenAIRoutes: Sendable {
    /// Model echoed when a request names none (vLLM serves a single model per host).
    static let defaultModel = "qwen3-4b"
    /// Models listed by `GET /v1/models`.
    static let listedModels = ["qwen3-4b", "deepseek-r1", "claude-sonnet-4-5"]
    /// Largest request body accepted; far above any prompt the pool sends.
    static let maxBodyBytes = 8 << 20

    let planner: RequestPlanner
    let stats: SimulatorStats

    /// Adds the endpoints to `router`.
    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/chat/completions") { request, context in
            try await chatCompletions(request, context: context)
        }
        router.get("/v1/models") { _, context in
            stats.record(SimulatorStats.models)
            context.logger.debug("sim request", metadata: ["endpoint": "\(SimulatorStats.models)", "status": "200"])
            return SimResponse.json(Self.modelList())
        }
    }

    /// Handles one chat completion; every outcome is logged in a single debug line.
    func chatCompletions(_ request: Request, context: BasicRequestContext) async throws -> Response {
        stats.record(SimulatorStats.chatCompletions)
        var log: Logger.Metadata = ["endpoint": "\(SimulatorStats.chatCompletions)"]
        let response = try await answer(request, log: &log)
        log["status"] = "\(response.status.code)"
        context.logger.debug("sim request", metadata: log)
        return response
    }

    private func answer(_ request: Request, log: inout Logger.Metadata) async throws -> Response {
        let buffer = try await request.body.collect(upTo: Self.maxBodyBytes)
        let body: OpenAIChatRequest
        switch Conversation.decode(OpenAIChatRequest.self, from: buffer) {
        case .success(let decoded): body = decoded
        case .failure(let failure): return Self.error(status: 400, message: failure.message)
        }
        guard let messages = body.messages, !messages.isEmpty else {
            return Self.error(status: 400, message: "messages: Field required (at least one message)")
        }
        let maxTokens = body.maxCompletionTokens ?? body.maxTokens
        if let maxTokens, maxTokens < 1 {
            return Self.error(status: 400, message: "max_tokens must be at least 1, got \(maxTokens).")
        }
        let topCount = body.logprobs == true ? (body.topLogprobs ?? 0) : 0
        guard (0...20).contains(topCount) else {
            return Self.error(status: 400, message: "top_logprobs must be between 0 and 20, got \(topCount).")
        }
        let model = body.model ?? Self.defaultModel
        let streaming = body.stream == true
        let (parsed, prompt) = SimDirectives.parse(Conversation.lastUserText(messages), scope: .openai)
        let directives = streaming ? parsed : parsed.withoutStreamingDirectives
        log["model"] = "\(model)"
        log["directives"] = "\(directives.summary)"
        if !directives.ignored.isEmpty { log["ignored_directives"] = "\(directives.ignored.joined(separator: " "))" }

        switch try await planner.plan(directives, injectedStatus: 503) {
        case .failure(let status, let injected):
            log["injected"] = "\(injected)"
            return Self.error(status: status, message: "\(SimResponse.reasonPhrase(status)) (simulated)")
        case .garbage:
            return SimResponse.garbage()
        case .answer:
            break
        }

        let tools = body.tools?.map { SimTool(name: $0.function.name, schema: $0.function.parameters) } ?? []
        let call = SimTools.call(
            tools: tools, choice: SimToolChoice(body.toolChoice), lastIsToolResult: messages.last?.isToolResult ?? false, directives: directives)
        let prose = AnswerWriter.answer(prompt: prompt, directives: directives, allowThinking: call == nil && body.responseFormat == nil)
        var tokens = SimTokens.split(
            call?.arguments ?? SimTools.jsonAnswer(format: body.responseFormat, prose: prose, directives: directives) ?? prose)
        var finishReason = call == nil ? "stop" : "tool_calls"
        if let maxTokens, tokens.count > maxTokens {
            tokens = Array(tokens.prefix(maxTokens))
            finishReason = "length"
        }
        let logprobEntries =
            body.logprobs == true
            ? SimTokens.logprobEntries(
                tokens: tokens, mean: directives.meanLogprob ?? SimTokens.defaultMeanLogprob, topCount: topCount,
                badSpan: directives.badSpan)
            : nil
        let answer = OpenAIAnswer(
            id: "chatcmpl-" + Self.randomHex(32), created: Int(Date().timeIntervalSince1970), model: model, tokens: tokens,
            call: call, finishReason: finishReason, logprobEntries: logprobEntries, promptTokens: Conversation.promptTokens(messages))
        log["completion_tokens"] = "\(tokens.count)"
        if let call { log["tool_call"] = "\(call.name)" }
        if streaming {
            log["stream"] = "true"
            let includeUsage = body.streamOptions?.includeUsage == true
            return Self.stream(answer, directives: directives, includeUsage: includeUsage).response(stats: stats)
        }
        return SimResponse.json(Self.completion(answer))
    }

    /// The `chat.completion` body of `answer`.
    static func completion(_ answer: OpenAIAnswer) -> JSONValue {
        let text = answer.tokens.joined()
        var message: JSONValue = [
            "role": "assistant", "content": .string(text), "reasoning_content": nil, "tool_calls": [],
        ]
        if let call = answer.call {
            // vLLM's shape with a tool-call parser: content null, the arguments as JSON text.
            let function: JSONValue = ["name": .string(call.name), "arguments": .string(text)]
            message = [
                "role": "assistant", "content": nil, "reasoning_content": nil,
                "tool_calls": [["id": .string("chatcmpl-tool-" + Self.randomHex(32)), "type": "function", "function": function]],
            ]
        }
        let choice: JSONValue = [
            "index": 0, "message": message, "logprobs": answer.logprobEntries.map { .object([("content", .array($0))]) } ?? .null,
            "finish_reason": .string(answer.finishReason), "stop_reason": nil,
        ]
        return [
            "id": .string(answer.id), "object": "chat.completion", "created": .int(answer.created), "model": .string(answer.model),
            "choices": [choice], "usage": answer.usage(details: true), "prompt_logprobs": nil,
        ]
    }

    /// vLLM's error body for `status`, with the exception name the OpenAI client uses.
    static func error(status: Int, message: String) -> Response {
        SimResponse.json(
            [
                "object": "error", "message": .string(message), "type": .string(errorType(status)),
                "param": nil, "code": .int(status),
            ],
            status: status,
            headers: SimResponse.errorHeaders(status: status)
        )
    }

    /// The `type` field vLLM and the OpenAI SDK use for each status.
    static func errorType(_ status: Int) -> String {
        switch status {
        case 400: "BadRequestError"
        case 401: "AuthenticationError"
        case 403: "PermissionDeniedError"
        case 404: "NotFoundError"
        case 409: "ConflictError"
        case 422: "UnprocessableEntityError"
        case 429: "RateLimitError"
        case 501: "NotImplementedError"
        case 503: "ServiceUnavailableError"
        case 400..<500: "BadRequestError"
        default: "InternalServerError"
        }
    }

    /// The `GET /v1/models` body, in vLLM's model card shape.
    static func modelList() -> JSONValue {
        let created = Int(Date().timeIntervalSince1970)
        let cards: [JSONValue] = listedModels.map { id in
            [
                "id": .string(id), "object": "model", "created": .int(created), "owned_by": "vllm",
                "root": .string(id), "parent": nil, "max_model_len": 32768,
            ]
        }
        return ["object": "list", "data": .array(cards)]
    }

    /// `count` random lowercase hex digits, for response ids (unique, not deterministic).
    static func randomHex(_ count: Int) -> String {
        String((0..<count).map { _ in "0123456789abcdef".randomElement()! })
    }
}
