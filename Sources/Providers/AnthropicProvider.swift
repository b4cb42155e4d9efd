import CurlHTTP
import Foundation
import JobProtocol
import Settings

/// Anthropic's Messages API, `/v1/messages`: Claude, tier 3 and the fallback for tiers 1 and 2.
public struct AnthropicProvider: ChatProvider {
    public let model: String
    private let apiKey: String?
    private let version: String
    /// The tier's endpoint breakers; moved by real calls only, since Anthropic's API has no
    /// health route to probe.
    public let health: EndpointHealth
    private let transport: ProviderTransport

    /// - Parameter health: the tier's breakers, when the caller shares or tunes them; by
    ///   default one with the default thresholds and active probing off.
    public init(settings: TierSettings, http: HTTPClient, health: EndpointHealth? = nil) {
        self.model = settings.model
        self.apiKey = settings.apiKey
        self.version = settings.anthropicVersion
        self.health = health ?? EndpointHealth(endpoints: settings.endpoints, activeProbing: false)
        self.transport = ProviderTransport(http: http, endpoints: settings.endpoints, health: self.health)
    }

    struct Body: Encodable {
        var model: String
        var maxTokens: Int
        var system: String?
        var messages: [ChatMessage]
        var temperature: Double?
        var topP: Double?
        var stopSequences: [String]?

        enum CodingKeys: String, CodingKey {
            case model, maxTokens = "max_tokens", system, messages, temperature, topP = "top_p", stopSequences = "stop_sequences"
        }
    }

    struct Reply: Decodable {
        struct Block: Decodable {
            var type: String
            var text: String?
        }
        struct Usage: Decodable {
            var inputTokens: Int?
            var outputTokens: Int?
            var cacheReadInputTokens: Int?
            enum CodingKeys: String, CodingKey {
                case inputTokens = "input_tokens", outputTokens = "output_tokens", cacheReadInputTokens = "cache_read_input_tokens"
            }
        }
        var type: String?
        var content: [Block]?
        var usage: Usage?
        var stopReason: String?
        var model: String?
        enum CodingKeys: String, CodingKey { case type, content, usage, stopReason = "stop_reason", model }
    }

    public func complete(_ request: ProviderRequest) async throws(ProviderError) -> ProviderResponse {
        // The Messages API takes the system prompt as a top-level field, not as a message.
        let system = request.messages.filter { $0.role == "system" }.map(\.text).joined(separator: "\n\n")
        let body = Body(
            model: model, maxTokens: request.maxTokens, system: system.isEmpty ? nil : system,
            messages: request.messages.filter { $0.role != "system" }, temperature: request.temperature,
            topP: request.topP, stopSequences: request.stop
        )
        let data: Data
        do { data = try JSONEncoder().encode(body) } catch { throw ProviderError(.badResponse, "cannot encode the request: \(error)") }
        guard let apiKey, !apiKey.isEmpty else {
            throw ProviderError(.http4xx, "no Claude API key: set CLAUDE_API_KEY (or the tier's api_key_env / api_key_file)", status: 401)
        }
        let headers = [HTTPHeader(name: "x-api-key", value: apiKey), HTTPHeader(name: "anthropic-version", value: version)]
        let (response, endpoint) = try await transport.post(path: "/v1/messages", headers: headers, body: data, timeout: request.timeout)

        let reply: Reply
        do { reply = try JSONDecoder().decode(Reply.self, from: response.body) } catch {
            throw ProviderError(
                .badResponse, "\(ProviderTransport.host(endpoint)) returned a body that is not a Messages API reply", status: response.status)
        }
        guard reply.type == nil || reply.type == "message", let blocks = reply.content else {
            throw ProviderError(.badResponse, "\(ProviderTransport.host(endpoint)) returned no content blocks", status: response.status)
        }
        let text = blocks.filter { $0.type == "text" }.compactMap(\.text).joined()
        var answer = ProviderResponse(
            text: text, reasoning: nil,
            tokensInput: reply.usage?.inputTokens ?? TokenEstimator.estimate(request.messages),
            tokensOutput: reply.usage?.outputTokens ?? TokenEstimator.estimate(text),
            tokenLogprobs: nil, finishReason: reply.stopReason, model: reply.model ?? model
        )
        answer.tokensCachedInput = reply.usage?.cacheReadInputTokens ?? 0
        return answer
    }
}
