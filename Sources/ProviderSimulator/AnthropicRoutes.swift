import Hummingbird
import Logging

/// Anthropic's Messages API: `POST /v1/messages`.
///
/// The tier-3 and fallback workers call Claude through this API, so the simulator checks
/// what the real service checks first (an `x-api-key` header, then `anthropic-version`,
/// then the body: `model`, `max_tokens` and `messages` are required) and answers in the
/// real shapes: a `message` object with text content blocks and usage, a `request-id`
/// header, and errors as `{"type":"error","error":{"type":…,"message":…}}`. Any key
/// is accepted; the point is to catch a client that forgets the header, not to guard.
/// With `"stream": true` the same answer is streamed as Anthropic's named events
/// (`AnthropicRoutes+Streaming.swift`).
struct AnthropicRoutes: Sendable {
    let planner: RequestPlanner
    let stats: SimulatorStats

    /// Adds the endpoint to `router`.
    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/messages") { request, context in
            try await messages(request, context: context)
        }
    }

    /// Handles one Messages call; every outcome is logged in a single debug line.
    func messages(_ request: Request, context: BasicRequestContext) async throws -> Response {
        stats.record(SimulatorStats.messages)
        let requestID = "req_01" + Self.randomBase62(22)
        var log: Logger.Metadata = ["endpoint": "\(SimulatorStats.messages)", "request_id": "\(requestID)"]
        var response = try await answer(request, log: &log)
        response.headers[SimResponse.requestID] = requestID
        log["status"] = "\(response.status.code)"
        context.logger.debug("sim request", metadata: log)
        return response
    }

    private func answer(_ request: Request, log: inout Logger.Metadata) async throws -> Response {
        guard let key = request.headers[SimResponse.apiKey], !key.isEmpty else {
            return Self.error(status: 401, message: "x-api-key header is required")
        }
        guard let version = request.headers[SimResponse.anthropicVersion], !version.isEmpty else {
            return Self.error(status: 400, message: "anthropic-version: header is required")
        }
        let buffer = try await request.body.collect(upTo: OpenAIRoutes.maxBodyBytes)
        let body: AnthropicMessagesRequest
        switch Conversation.decode(AnthropicMessagesRequest.self, from: buffer) {
        case .success(let decoded): body = decoded
        case .failure(let failure): return Self.error(status: 400, message: failure.message)
        }
        let model: String, maxTokens: Int, messages: [ChatMessage]
        switch Self.validated(body) {
        case .success(let valid): (model, maxTokens, messages) = valid
        case .failure(let failure): return Self.error(status: 400, message: failure.message)
        }
        let streaming = body.stream == true
        if JudgeWriter.isJudgePrompt(body.system?.text ?? "") {
            return try await judge(body, model: model, maxTokens: maxTokens, streaming: streaming, log: &log)
        }
        let (parsed, prompt) = SimDirectives.parse(Conversation.lastUserText(messages), scope: .anthropic)
        let directives = streaming ? parsed : parsed.withoutStreamingDirectives
        log["model"] = "\(model)"
        log["directives"] = "\(directives.summary)"
        if !directives.ignored.isEmpty { log["ignored_directives"] = "\(directives.ignored.joined(separator: " "))" }

        switch try await planner.plan(directives, injectedStatus: 529) {
        case .failure(let status, let injected):
            log["injected"] = "\(injected)"
            let message = status == 529 ? "Overloaded" : "\(SimResponse.reasonPhrase(status)) (simulated)"
            return Self.error(status: status, message: message)
        case .garbage:
            return SimResponse.garbage()
        case .answer:
            break
        }

        let answer = Self.compose(body, model: model, maxTokens: maxTokens, messages: messages, prompt: prompt, directives: directives)
        log["completion_tokens"] = "\(answer.tokens.count)"
        if let call = answer.call { log["tool_call"] = "\(call.name)" }
        if streaming {
            log["stream"] = "true"
            return Self.stream(answer, directives: directives).response(stats: stats)
        }
        return SimResponse.json(Self.message(answer))
    }

    /// The required fields of a Messages request, checked as the real API checks them, or
    /// the 400 message naming the first one missing.
    static func validated(_ body: AnthropicMessagesRequest) -> Result<(String, Int, [ChatMessage]), DecodeFailure> {
        guard let model = body.model, !model.isEmpty else { return .failure(DecodeFailure(message: "model: Field required")) }
        guard let maxTokens = body.maxTokens else { return .failure(DecodeFailure(message: "max_tokens: Field required")) }
        guard maxTokens >= 1 else {
            return .failure(DecodeFailure(message: "max_tokens: Input should be greater than or equal to 1"))
        }
        guard let messages = body.messages, !messages.isEmpty else {
            return .failure(DecodeFailure(message: "messages: at least one message is required"))
        }
        if let bad = messages.first(where: { $0.role != "user" && $0.role != "assistant" }) {
            return .failure(DecodeFailure(message: "messages: Unexpected role \"\(bad.role)\". Allowed roles are \"user\" or \"assistant\"."))
        }
        return .success((model, maxTokens, messages))
    }

    /// The answer to a valid request: a tool call when the request's tools call for one, else
    /// the text `AnswerWriter` writes for the prompt, cut at `maxTokens`. Shared by
    /// `/v1/messages` and Message Batches entries, so both answer a prompt alike.
    static func compose(
        _ body: AnthropicMessagesRequest, model: String, maxTokens: Int, messages: [ChatMessage], prompt: String, directives: SimDirectives
    ) -> AnthropicAnswer {
        let tools = body.tools?.map { SimTool(name: $0.name, schema: $0.inputSchema) } ?? []
        // Claude's tool input is always an object: `badtool` has no meaning here.
        var toolDirectives = directives
        toolDirectives.badTool = false
        let call = SimTools.call(
            tools: tools, choice: SimToolChoice(body.toolChoice), lastIsToolResult: messages.last?.isToolResult ?? false,
            directives: toolDirectives)
        var tokens = SimTokens.split(call?.arguments ?? AnswerWriter.answer(prompt: prompt, directives: directives, allowThinking: false))
        var stopReason = call == nil ? "end_turn" : "tool_use"
        if tokens.count > maxTokens {
            tokens = Array(tokens.prefix(maxTokens))
            stopReason = "max_tokens"
        }
        return AnthropicAnswer(
            id: "msg_01" + randomBase62(22), model: model, tokens: tokens, call: call, stopReason: stopReason,
            inputTokens: Conversation.promptTokens(messages, system: body.system?.text ?? ""))
    }

    /// A request from `cervella poc`'s judge: a score in the judge's reply format, in the same
    /// wire shapes as any answer (usage, stop reason, ids; streamed when asked).
    ///
    /// The judge request quotes the task, `#sim` lines included. Those lines were meant for
    /// the task's own calls (`#sim anthropic status=503` fails Claude's answer, not its
    /// judge), so the judge obeys only `judge_score`, from any line, and otherwise the
    /// configured latency and error rate.
    private func judge(_ body: AnthropicMessagesRequest, model: String, maxTokens: Int, streaming: Bool, log: inout Logger.Metadata) async throws
        -> Response
    {
        let messages = body.messages ?? []
        let (quoted, message) = SimDirectives.parse(Conversation.lastUserText(messages))
        var directives = SimDirectives()
        directives.judgeScore = quoted.judgeScore
        log["model"] = "\(model)"
        log["judge"] = "true"
        log["directives"] = "\(directives.summary)"
        switch try await planner.plan(directives, injectedStatus: 529) {
        case .failure(let status, let injected):
            log["injected"] = "\(injected)"
            return Self.error(status: status, message: status == 529 ? "Overloaded" : "\(SimResponse.reasonPhrase(status)) (simulated)")
        case .garbage:
            return SimResponse.garbage()
        case .answer:
            break
        }
        var tokens = SimTokens.split(JudgeWriter.reply(to: message, directives: directives))
        var stopReason = "end_turn"
        if tokens.count > maxTokens {
            tokens = Array(tokens.prefix(maxTokens))
            stopReason = "max_tokens"
        }
        log["completion_tokens"] = "\(tokens.count)"
        let answer = AnthropicAnswer(
            id: "msg_01" + Self.randomBase62(22), model: model, tokens: tokens, call: nil, stopReason: stopReason,
            inputTokens: Conversation.promptTokens(messages, system: body.system?.text ?? ""))
        if streaming {
            log["stream"] = "true"
            return Self.stream(answer, directives: SimDirectives()).response(stats: stats)
        }
        return SimResponse.json(Self.message(answer))
    }

    /// The `message` body of `answer`.
    static func message(_ answer: AnthropicAnswer) -> JSONValue {
        let content: JSONValue =
            answer.call.map { call in
                [["type": "tool_use", "id": .string(newToolUseID()), "name": .string(call.name), "input": call.input]]
            } ?? [["type": "text", "text": .string(answer.tokens.joined())]]
        return [
            "id": .string(answer.id), "type": "message", "role": "assistant", "model": .string(answer.model), "content": content,
            "stop_reason": .string(answer.stopReason), "stop_sequence": nil, "usage": answer.usage(outputTokens: answer.tokens.count),
        ]
    }

    /// A fresh `toolu_01…` id for a tool_use block.
    static func newToolUseID() -> String {
        "toolu_01" + randomBase62(22)
    }

    /// Anthropic's error body for `status`.
    static func error(status: Int, message: String) -> Response {
        SimResponse.json(
            ["type": "error", "error": ["type": .string(errorType(status)), "message": .string(message)]],
            status: status,
            headers: SimResponse.errorHeaders(status: status)
        )
    }

    /// The `error.type` Anthropic documents for each status.
    static func errorType(_ status: Int) -> String {
        switch status {
        case 401, 403: "authentication_error"
        case 404: "not_found_error"
        case 429: "rate_limit_error"
        case 503, 529: "overloaded_error"
        case 400..<500: "invalid_request_error"
        default: "api_error"
        }
    }

    /// `count` random base-62 characters, the alphabet of Anthropic's ids.
    static func randomBase62(_ count: Int) -> String {
        let alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        return String((0..<count).map { _ in alphabet.randomElement()! })
    }
}
