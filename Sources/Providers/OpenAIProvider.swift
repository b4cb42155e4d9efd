import CurlHTTP
import Foundation
import JobProtocol
import Settings

/// vLLM's OpenAI-compatible `/v1/chat/completions` (also llama.cpp's server and Ollama's).
public struct OpenAIProvider: ChatProvider {
    public let model: String
    let apiKey: String?
    /// The tier's endpoint breakers; probed actively, since vLLM and llama.cpp serve `GET /health`.
    public let health: EndpointHealth
    let transport: ProviderTransport

    /// - Parameter health: the tier's breakers, when the caller shares or tunes them; by
    ///   default one with the default thresholds and active probing on.
    public init(settings: TierSettings, http: HTTPClient, health: EndpointHealth? = nil) {
        self.model = settings.model
        self.apiKey = settings.apiKey
        self.health = health ?? EndpointHealth(endpoints: settings.endpoints, activeProbing: true)
        self.transport = ProviderTransport(http: http, endpoints: settings.endpoints, health: self.health)
    }

    /// The request body, written directly (no JSONEncoder on the per-job path).
    static func body(model: String, request: ProviderRequest, stream: Bool = false) -> [UInt8] {
        var w = JSONWriter()
        w.object { w in
            w.key("model"); w.string(model)
            w.key("messages"); w.array(request.messages) { $0.message($1) }
            w.key("max_tokens"); w.int(request.maxTokens)
            if let temperature = request.temperature { w.key("temperature"); w.double(temperature) }
            if let topP = request.topP { w.key("top_p"); w.double(topP) }
            if let stop = request.stop { w.key("stop"); w.array(stop) { $0.string($1) } }
            if request.wantLogprobs { w.key("logprobs"); w.bool(true) }
            if let tools = request.tools { w.key("tools"); w.array(tools) { $0.value($1) } }
            if let choice = request.toolChoice { w.key("tool_choice"); w.value(choice) }
            if let parallel = request.parallelToolCalls { w.key("parallel_tool_calls"); w.bool(parallel) }
            if let format = request.responseFormat { w.key("response_format"); w.value(format) }
            if let seed = request.seed { w.key("seed"); w.int(seed) }
            w.key("stream"); w.bool(stream)
            // The usage arrives in a last chunk of its own (vLLM, llama.cpp, OpenAI).
            if stream {
                w.key("stream_options");
                w.object {
                    $0.key("include_usage"); $0.bool(true)
                }
            }
        }
        return w.bytes
    }

    /// A chat completion as vLLM, llama.cpp, Ollama and OpenAI send it.
    ///
    /// Only `choices` must be there. Unknown fields (llama.cpp's `timings`,
    /// `prompt_tokens_details`, `system_fingerprint`, vLLM's `stop_reason`) are ignored, and an
    /// optional field that is missing, null or of an unexpected type counts as absent rather
    /// than losing the whole answer.
    struct Reply {
        struct Choice {
            /// `content` as a string, or the texts of a list of parts joined.
            var content: String?
            var reasoningContent: String?
            var reasoning: String?
            var logprobs: [Double]?
            var finishReason: String?
            var toolCalls: [ToolCall]?
        }
        var choices: [Choice]
        var promptTokens: Int?
        var completionTokens: Int?
        var model: String?

        /// Per-token fields that are never read: not built when parsing.
        static let unread: Set<String> = ["bytes", "top_logprobs", "timings"]

        /// nil when the body is not JSON, has no `choices` list, or a choice is not an object.
        init?(_ body: [UInt8]) {
            guard let root = JSONValue.read(body, skipping: Self.unread), let list = root["choices"]?.arrayValue else { return nil }
            var choices: [Choice] = []
            for element in list {
                guard case .object = element else { return nil }
                let message = element["message"]
                if let message, message != .null { guard case .object = message else { return nil } }
                var content = message?["content"]?.stringValue
                if content == nil, let parts = message?["content"]?.arrayValue {
                    content = parts.compactMap { $0["text"]?.stringValue }.joined()
                }
                choices.append(
                    Choice(
                        content: content, reasoningContent: message?["reasoning_content"]?.stringValue,
                        reasoning: message?["reasoning"]?.stringValue,
                        logprobs: element["logprobs"]?["content"]?.arrayValue?.compactMap { $0["logprob"]?.doubleValue },
                        finishReason: element["finish_reason"]?.stringValue,
                        toolCalls: message?["tool_calls"]?.arrayValue.map { $0.enumerated().compactMap(Self.toolCall) }
                    ))
            }
            self.choices = choices
            promptTokens = root["usage"]?["prompt_tokens"]?.intValue
            completionTokens = root["usage"]?["completion_tokens"]?.intValue
            model = root["model"]?.stringValue
        }

        /// One element of `message.tool_calls`, as the engines write it: `arguments` as JSON
        /// text (OpenAI, vLLM, llama.cpp) or as an object (Ollama), which is written back as
        /// text; a missing id (some llama.cpp templates) gets one, `call_` and 24 hex digits.
        /// A call without a function name keeps an empty one, which no tool has: the worker's
        /// check then answers `unknown_tool` rather than the call vanishing.
        static func toolCall(index: Int, element: JSONValue) -> ToolCall? {
            let function = element["function"]
            let name = function?["name"]?.stringValue ?? ""
            let arguments: String
            switch function?["arguments"] {
            case .string(let text)?: arguments = text
            case nil, .null?: arguments = "{}"
            case let value?:
                var writer = JSONWriter()
                writer.value(value)
                arguments = String(decoding: writer.bytes, as: UTF8.self)
            }
            let id = element["id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? ToolCall.newID(index: index)
            return ToolCall(id: id, type: element["type"]?.stringValue ?? "function", name: name, arguments: arguments)
        }
    }

    public func complete(_ request: ProviderRequest) async throws(ProviderError) -> ProviderResponse {
        let data = Data(Self.body(model: model, request: request))
        var headers: [HTTPHeader] = []
        if let apiKey { headers.append(HTTPHeader(name: "authorization", value: "Bearer \(apiKey)")) }
        let (response, endpoint) = try await transport.post(path: "/v1/chat/completions", headers: headers, body: data, timeout: request.timeout)

        guard let reply = Reply(Array(response.body)) else {
            throw ProviderError(
                .badResponse, "\(ProviderTransport.host(endpoint)) returned a body that is not a chat completion", status: response.status)
        }
        guard let choice = reply.choices.first else {
            throw ProviderError(.badResponse, "\(ProviderTransport.host(endpoint)) returned no choices", status: response.status)
        }
        return Self.response(
            choice, promptTokens: reply.promptTokens, completionTokens: reply.completionTokens, model: reply.model ?? model, request: request)
    }

    /// The provider's answer from a choice, whole or assembled from a stream.
    static func response(_ choice: Reply.Choice, promptTokens: Int?, completionTokens: Int?, model: String, request: ProviderRequest)
        -> ProviderResponse
    {
        let raw = choice.content ?? ""
        let (answer, inlineReasoning) = ThinkBlock.split(raw)
        // llama.cpp (with a reasoning template such as Qwen3's) and vLLM (with a reasoning
        // parser) split the <think> block off into reasoning_content (vLLM ≥ 0.9: reasoning);
        // without them it stays inline. Either way it leaves the answer and is only counted.
        let split = [choice.reasoningContent ?? choice.reasoning, inlineReasoning]
            .compactMap { $0 }.filter { !$0.isEmpty }
        let reasoning = split.isEmpty ? nil : split.joined(separator: "\n")
        // One entry per emitted piece, not per token: llama.cpp merges a token that ends in
        // a partial UTF-8 character with the next one (fewer entries than completion_tokens),
        // and strips the answer's leading space, so entries are neither counted against the
        // usage nor joined against the text.
        let logprobs = choice.logprobs?.filter(\.isFinite)
        return ProviderResponse(
            text: answer, reasoning: reasoning,
            tokensInput: promptTokens ?? TokenEstimator.estimate(request.messages),
            tokensOutput: completionTokens ?? TokenEstimator.estimate(raw),
            tokenLogprobs: (logprobs?.isEmpty ?? true) ? nil : logprobs,
            finishReason: Self.finishReason(choice.finishReason, toolCalls: choice.toolCalls), model: model,
            toolCalls: (choice.toolCalls?.isEmpty ?? true) ? nil : choice.toolCalls
        )
    }

    /// OpenAI says `tool_calls` when the model called a tool; llama.cpp and some vLLM parsers
    /// say `stop` (or nothing) with the calls present. Normalised, so callers can rely on it.
    static func finishReason(_ given: String?, toolCalls: [ToolCall]?) -> String? {
        guard let toolCalls, !toolCalls.isEmpty, given == nil || given == "stop" else { return given }
        return "tool_calls"
    }
}
