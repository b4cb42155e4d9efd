import CurlHTTP
import Foundation
import JobProtocol
import Settings

/// Anthropic's Messages API, `/v1/messages`: Claude, tier 3 and the fallback for tiers 1 and 2.
public struct AnthropicProvider: ChatProvider {
    public let model: String
    let apiKey: String?
    private let version: String
    /// The tier's endpoint breakers; moved by real calls only, since Anthropic's API has no
    /// health route to probe.
    public let health: EndpointHealth
    let transport: ProviderTransport

    /// - Parameter health: the tier's breakers, when the caller shares or tunes them; by
    ///   default one with the default thresholds and active probing off.
    public init(settings: TierSettings, http: HTTPClient, health: EndpointHealth? = nil) {
        self.model = settings.model
        self.apiKey = settings.apiKey
        self.version = settings.anthropicVersion
        self.health = health ?? EndpointHealth(endpoints: settings.endpoints, activeProbing: false)
        self.transport = ProviderTransport(http: http, endpoints: settings.endpoints, health: self.health)
    }

    /// The request's body and headers, or why it cannot be sent.
    func prepared(_ request: ProviderRequest, stream: Bool) throws(ProviderError) -> (body: [UInt8], forcedAnswer: Bool, headers: [HTTPHeader]) {
        // Translated both ways by AnthropicWire: system, tools, tool calls and results, images.
        let body: [UInt8], forcedAnswer: Bool
        do { (body, forcedAnswer) = try AnthropicWire.body(model: model, request: request, stream: stream) } catch {
            throw ProviderError(.unsupportedRequest, "the request cannot be sent to Claude: \(error.message)")
        }
        guard let apiKey, !apiKey.isEmpty else {
            throw ProviderError(.http4xx, "no Claude API key: set CLAUDE_API_KEY (or the tier's api_key_env / api_key_file)", status: 401)
        }
        let headers = [HTTPHeader(name: "x-api-key", value: apiKey), HTTPHeader(name: "anthropic-version", value: version)]
        return (body, forcedAnswer, headers)
    }

    public func complete(_ request: ProviderRequest) async throws(ProviderError) -> ProviderResponse {
        let (body, forcedAnswer, headers) = try prepared(request, stream: false)
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
        return Self.response(
            blocks: blocks, stopReason: reply["stop_reason"]?.stringValue, usage: reply["usage"], model: reply["model"]?.stringValue ?? model,
            forcedAnswer: forcedAnswer, request: request)
    }

    /// The provider's answer from a reply's content blocks, whole or assembled from a stream.
    static func response(
        blocks: [JSONValue], stopReason: String?, usage: JSONValue?, model: String, forcedAnswer: Bool, request: ProviderRequest
    ) -> ProviderResponse {
        let answer = AnthropicWire.answer(blocks: blocks, stopReason: stopReason, forcedAnswer: forcedAnswer)
        var result = ProviderResponse(
            text: answer.text, reasoning: nil,
            tokensInput: usage?["input_tokens"]?.intValue ?? TokenEstimator.estimate(request.messages),
            tokensOutput: usage?["output_tokens"]?.intValue ?? TokenEstimator.estimate(answer.text),
            tokenLogprobs: nil, finishReason: answer.finishReason, model: model, toolCalls: answer.toolCalls
        )
        result.tokensCachedInput = usage?["cache_read_input_tokens"]?.intValue ?? 0
        return result
    }
}
