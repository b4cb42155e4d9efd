import CurlHTTP
import Foundation
import JobProtocol
import Settings

/// vLLM's OpenAI-compatible `/v1/chat/completions` (also llama.cpp's server and Ollama's).
public struct OpenAIProvider: ChatProvider {
    public let model: String
    private let apiKey: String?
    /// The tier's endpoint breakers; probed actively, since vLLM and llama.cpp serve `GET /health`.
    public let health: EndpointHealth
    private let transport: ProviderTransport

    /// - Parameter health: the tier's breakers, when the caller shares or tunes them; by
    ///   default one with the default thresholds and active probing on.
    public init(settings: TierSettings, http: HTTPClient, health: EndpointHealth? = nil) {
        self.model = settings.model
        self.apiKey = settings.apiKey
        self.health = health ?? EndpointHealth(endpoints: settings.endpoints, activeProbing: true)
        self.transport = ProviderTransport(http: http, endpoints: settings.endpoints, health: self.health)
    }

    struct Body: Encodable {
        var model: String
        var messages: [ChatMessage]
        var maxTokens: Int
        var temperature: Double?
        var topP: Double?
        var stop: [String]?
        var logprobs: Bool?
        var stream = false

        enum CodingKeys: String, CodingKey {
            case model, messages, maxTokens = "max_tokens", temperature, topP = "top_p", stop, logprobs, stream
        }
    }

    struct Reply: Decodable {
        struct Choice: Decodable {
            struct Message: Decodable {
                var content: String?
                var reasoningContent: String?
                var reasoning: String?
                enum CodingKeys: String, CodingKey { case content, reasoningContent = "reasoning_content", reasoning }
            }
            struct Logprobs: Decodable {
                struct Token: Decodable { var logprob: Double? }
                var content: [Token]?
            }
            var message: Message?
            var logprobs: Logprobs?
            var finishReason: String?
            enum CodingKeys: String, CodingKey { case message, logprobs, finishReason = "finish_reason" }
        }
        struct Usage: Decodable {
            var promptTokens: Int?
            var completionTokens: Int?
            enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens" }
        }
        var choices: [Choice]?
        var usage: Usage?
        var model: String?
    }

    public func complete(_ request: ProviderRequest) async throws(ProviderError) -> ProviderResponse {
        let body = Body(
            model: model, messages: request.messages, maxTokens: request.maxTokens, temperature: request.temperature,
            topP: request.topP, stop: request.stop, logprobs: request.wantLogprobs ? true : nil
        )
        let data: Data
        do { data = try JSONEncoder().encode(body) } catch { throw ProviderError(.badResponse, "cannot encode the request: \(error)") }
        var headers: [HTTPHeader] = []
        if let apiKey { headers.append(HTTPHeader(name: "authorization", value: "Bearer \(apiKey)")) }
        let (response, endpoint) = try await transport.post(path: "/v1/chat/completions", headers: headers, body: data, timeout: request.timeout)

        let reply: Reply
        do { reply = try JSONDecoder().decode(Reply.self, from: response.body) } catch {
            throw ProviderError(.badResponse, "\(ProviderTransport.host(endpoint)) returned a body that is not a chat completion", status: response.status)
        }
        guard let choice = reply.choices?.first else {
            throw ProviderError(.badResponse, "\(ProviderTransport.host(endpoint)) returned no choices", status: response.status)
        }
        let raw = choice.message?.content ?? ""
        let (answer, inlineReasoning) = ThinkBlock.split(raw)
        let reasoning = choice.message?.reasoningContent ?? choice.message?.reasoning ?? inlineReasoning
        let logprobs = choice.logprobs?.content?.compactMap(\.logprob)
        return ProviderResponse(
            text: answer, reasoning: reasoning,
            tokensInput: reply.usage?.promptTokens ?? TokenEstimate.count(request.messages.map(\.text).joined()),
            tokensOutput: reply.usage?.completionTokens ?? TokenEstimate.count(raw),
            tokenLogprobs: (logprobs?.isEmpty ?? true) ? nil : logprobs,
            finishReason: choice.finishReason, model: reply.model ?? model
        )
    }
}

/// A cheap token estimate for when a provider reports no usage: about four characters a token.
public enum TokenEstimate {
    public static func count(_ text: String) -> Int { (text.utf8.count + 3) / 4 }
}
