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

    public func complete(_ request: ProviderRequest) async throws(ProviderError) -> ProviderResponse {
        // Translated both ways by AnthropicWire: system, tools, tool calls and results, images.
        let body: [UInt8], forcedAnswer: Bool
        do { (body, forcedAnswer) = try AnthropicWire.body(model: model, request: request) } catch {
            throw ProviderError(.unsupportedRequest, "the request cannot be sent to Claude: \(error.message)")
        }
        guard let apiKey, !apiKey.isEmpty else {
            throw ProviderError(.http4xx, "no Claude API key: set CLAUDE_API_KEY (or the tier's api_key_env / api_key_file)", status: 401)
        }
        let headers = [HTTPHeader(name: "x-api-key", value: apiKey), HTTPHeader(name: "anthropic-version", value: version)]
        let (response, endpoint) = try await transport.post(
            path: "/v1/messages", headers: headers, body: Data(body), timeout: request.timeout)

        guard let reply = JSONValue.read(Array(response.body)), case .object = reply else {
            throw ProviderError(
                .badResponse, "\(ProviderTransport.host(endpoint)) returned a body that is not a Messages API reply", status: response.status)
        }
        let type = reply["type"]?.stringValue
        guard type == nil || type == "message", let blocks = reply["content"]?.arrayValue else {
            throw ProviderError(.badResponse, "\(ProviderTransport.host(endpoint)) returned no content blocks", status: response.status)
        }
        let answer = AnthropicWire.answer(blocks: blocks, stopReason: reply["stop_reason"]?.stringValue, forcedAnswer: forcedAnswer)
        let usage = reply["usage"]
        var result = ProviderResponse(
            text: answer.text, reasoning: nil,
            tokensInput: usage?["input_tokens"]?.intValue ?? TokenEstimator.estimate(request.messages),
            tokensOutput: usage?["output_tokens"]?.intValue ?? TokenEstimator.estimate(answer.text),
            tokenLogprobs: nil, finishReason: answer.finishReason, model: reply["model"]?.stringValue ?? model, toolCalls: answer.toolCalls
        )
        result.tokensCachedInput = usage?["cache_read_input_tokens"]?.intValue ?? 0
        return result
    }
}
