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

    /// A chat completion as vLLM, llama.cpp, Ollama and OpenAI send it.
    ///
    /// Only `choices` must be there. Unknown fields (llama.cpp's `timings`,
    /// `prompt_tokens_details`, `system_fingerprint`, vLLM's `stop_reason`) are ignored, and an
    /// optional field that is missing, null or of an unexpected type counts as absent rather
    /// than losing the whole answer.
    struct Reply: Decodable {
        struct Choice: Decodable {
            struct Message: Decodable {
                var content: String?
                var reasoningContent: String?
                var reasoning: String?
                enum CodingKeys: String, CodingKey { case content, reasoningContent = "reasoning_content", reasoning }
                /// One piece of a `content` given as a list of parts (`[{"type":"text","text":…}]`).
                struct Part: Decodable { var text: String? }

                init(from decoder: any Decoder) throws {
                    let c = try decoder.container(keyedBy: CodingKeys.self)
                    content = (try? c.decodeIfPresent(String.self, forKey: .content))
                        ?? (try? c.decodeIfPresent([Part].self, forKey: .content))?.compactMap(\.text).joined()
                    reasoningContent = try? c.decodeIfPresent(String.self, forKey: .reasoningContent)
                    reasoning = try? c.decodeIfPresent(String.self, forKey: .reasoning)
                }
            }
            struct Logprobs: Decodable {
                struct Token: Decodable {
                    var logprob: Double?
                    enum CodingKeys: String, CodingKey { case logprob }
                    init(from decoder: any Decoder) throws {
                        logprob = try? decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Double.self, forKey: .logprob)
                    }
                }
                var content: [Token]?
                enum CodingKeys: String, CodingKey { case content }
                init(from decoder: any Decoder) throws {
                    content = try? decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([Token].self, forKey: .content)
                }
            }
            var message: Message?
            var logprobs: Logprobs?
            var finishReason: String?
            enum CodingKeys: String, CodingKey { case message, logprobs, finishReason = "finish_reason" }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                message = try c.decodeIfPresent(Message.self, forKey: .message)
                logprobs = try? c.decodeIfPresent(Logprobs.self, forKey: .logprobs)
                finishReason = try? c.decodeIfPresent(String.self, forKey: .finishReason)
            }
        }
        struct Usage: Decodable {
            var promptTokens: Int?
            var completionTokens: Int?
            enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens" }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                promptTokens = try? c.decodeIfPresent(Int.self, forKey: .promptTokens)
                completionTokens = try? c.decodeIfPresent(Int.self, forKey: .completionTokens)
            }
        }
        var choices: [Choice]?
        var usage: Usage?
        var model: String?
        enum CodingKeys: String, CodingKey { case choices, usage, model }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            choices = try c.decodeIfPresent([Choice].self, forKey: .choices)
            usage = try? c.decodeIfPresent(Usage.self, forKey: .usage)
            model = try? c.decodeIfPresent(String.self, forKey: .model)
        }
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
        // llama.cpp (with a reasoning template such as Qwen3's) and vLLM (with a reasoning
        // parser) split the <think> block off into reasoning_content (vLLM ≥ 0.9: reasoning);
        // without them it stays inline. Either way it leaves the answer and is only counted.
        let split = [choice.message?.reasoningContent ?? choice.message?.reasoning, inlineReasoning]
            .compactMap { $0 }.filter { !$0.isEmpty }
        let reasoning = split.isEmpty ? nil : split.joined(separator: "\n")
        // One entry per emitted piece, not per token: llama.cpp merges a token that ends in
        // a partial UTF-8 character with the next one (fewer entries than completion_tokens),
        // and strips the answer's leading space, so entries are neither counted against the
        // usage nor joined against the text.
        let logprobs = choice.logprobs?.content?.compactMap(\.logprob).filter(\.isFinite)
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
