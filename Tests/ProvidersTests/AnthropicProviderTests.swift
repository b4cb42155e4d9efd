import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import ProviderSimulator
import Providers
import Settings
import Testing

/// `AnthropicProvider` against the simulator's Messages API, `/v1/messages`.
@Suite("AnthropicProvider")
struct AnthropicProviderTests {
    @Test("a call returns the text, the server's usage counts, the model and the stop reason")
    func answerAndUsage() async throws {
        try await withSimulator { simulator, http in
            let provider = AnthropicProvider(settings: Fixture.settings(.anthropic, endpoints: [simulator.baseURL]), http: http)
            let prompt = "Perché il cielo è blu? Rispondi però in modo semplice."
            let response = try await provider.complete(Fixture.request(prompt))

            #expect(!response.text.isEmpty)
            #expect(response.reasoning == nil)
            #expect(response.tokenLogprobs == nil)
            #expect(response.model == "claude-sonnet-4-5")
            #expect(response.finishReason == "stop")  // end_turn, in OpenAI's words
            #expect(
                Fixture.simulatorPromptTokens([prompt]) != TokenEstimator.estimate(prompt),
                "the two counts must differ for this check to mean anything")
            #expect(response.tokensInput == Fixture.simulatorPromptTokens([prompt]))
            #expect(response.tokensOutput == Fixture.wordCount(response.text))
            #expect(simulator.stats.count(SimulatorStats.messages) == 1)
            #expect(simulator.stats.total == 1)
        }
    }

    @Test("system messages become the top-level system field, which the server counts as input")
    func systemBecomesTopLevelField() async throws {
        try await withSimulator { simulator, http in
            let provider = AnthropicProvider(settings: Fixture.settings(.anthropic, endpoints: [simulator.baseURL]), http: http)
            let system = String(repeating: "You are a careful assistant for a logistics company. ", count: 8)
            let prompt = "Hello"
            // The simulator, like the real API, answers 400 to a message whose role is
            // "system", and adds the top-level system text to input_tokens. A provider that
            // dropped the system prompt would report about 2 input tokens.
            let response = try await provider.complete(Fixture.request(prompt, system: [system]))
            #expect(response.tokensInput == Fixture.simulatorPromptTokens([system, prompt]))
            #expect(response.tokensInput > 100)
        }
    }

    @Test("several system messages are joined with a blank line into the one system field")
    func severalSystemMessagesAreJoined() async throws {
        try await withSimulator { simulator, http in
            let provider = AnthropicProvider(settings: Fixture.settings(.anthropic, endpoints: [simulator.baseURL]), http: http)
            let response = try await provider.complete(Fixture.request("Hello", system: ["Be brief.", "Answer in English."]))
            #expect(response.tokensInput == Fixture.simulatorPromptTokens(["Be brief.\n\nAnswer in English.", "Hello"]))
        }
    }

    @Test(
        "a missing or empty API key is a clear http_4xx error and no request is made",
        arguments: [nil, ""] as [String?]
    )
    func missingKey(apiKey: String?) async throws {
        try await withSimulator { simulator, http in
            let provider = AnthropicProvider(
                settings: Fixture.settings(.anthropic, endpoints: [simulator.baseURL], apiKey: apiKey), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("Hello")))
            #expect(error.code == .http4xx)
            #expect(error.status == 401)
            #expect(error.message.contains("CLAUDE_API_KEY"))
            #expect(error.fallbackReason == "error_http_4xx")
            #expect(simulator.stats.total == 0)
        }
    }

    @Test(
        "the endpoint may be given with or without /v1 and with a trailing slash",
        arguments: ["", "/", "/v1", "/v1/"]
    )
    func endpointForms(suffix: String) async throws {
        try await withSimulator { simulator, http in
            let provider = AnthropicProvider(
                settings: Fixture.settings(.anthropic, endpoints: [simulator.baseURL + suffix]), http: http)
            let response = try await provider.complete(Fixture.request("Hello"))
            #expect(!response.text.isEmpty)
            #expect(simulator.stats.count(SimulatorStats.messages) == 1)
        }
    }

    @Test("max_tokens is sent: a long answer is cut and the stop reason is max_tokens")
    func maxTokensIsSent() async throws {
        try await withSimulator { simulator, http in
            let provider = AnthropicProvider(settings: Fixture.settings(.anthropic, endpoints: [simulator.baseURL]), http: http)
            let response = try await provider.complete(Fixture.request("Explain how TCP congestion control works.", maxTokens: 4))
            #expect(response.tokensOutput == 4)
            #expect(response.finishReason == "length")  // max_tokens, in OpenAI's words
        }
    }

    @Test("an empty answer is an empty text, not an error")
    func emptyAnswer() async throws {
        try await withSimulator { simulator, http in
            let provider = AnthropicProvider(settings: Fixture.settings(.anthropic, endpoints: [simulator.baseURL]), http: http)
            let response = try await provider.complete(Fixture.request("#sim empty\nHello"))
            #expect(response.text.isEmpty)
            #expect(response.tokensOutput == 0)
        }
    }
}

/// What `AnthropicProvider` puts on the wire, recorded by a plain socket server.
@Suite("AnthropicProvider request")
struct AnthropicProviderRequestTests {
    @Test("headers: x-api-key, anthropic-version and a JSON content type, no bearer token")
    func headers() async throws {
        let server = try RecordingServer(reply: .init(body: CannedReply.message))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        var settings = Fixture.settings(.anthropic, endpoints: [server.baseURL], apiKey: "sk-ant-xyz")
        settings.anthropicVersion = "2023-06-01"
        let provider = AnthropicProvider(settings: settings, http: http)
        let response = try await provider.complete(Fixture.request("Hello"))

        #expect(response.text == "Canned answer.")
        #expect(response.tokensInput == 7 && response.tokensOutput == 2)
        let recorded = try #require(server.requests.first)
        #expect(recorded.path == "/v1/messages")
        #expect(recorded.headers["x-api-key"] == "sk-ant-xyz")
        #expect(recorded.headers["anthropic-version"] == "2023-06-01")
        #expect(recorded.headers["content-type"] == "application/json")
        #expect(recorded.headers["authorization"] == nil)
    }

    @Test("the body has a top-level system string and only user/assistant messages")
    func bodyShape() async throws {
        let server = try RecordingServer(reply: .init(body: CannedReply.message))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = AnthropicProvider(settings: Fixture.settings(.anthropic, endpoints: [server.baseURL]), http: http)
        var request = Fixture.request("And now?", system: ["Be brief.", "Answer in English."], maxTokens: 77)
        request.messages.insert(contentsOf: [.init(role: "user", content: "Hi"), .init(role: "assistant", content: "Hello!")], at: 2)
        request.stop = ["\n\nHuman:"]
        _ = try await provider.complete(request)

        let body = try #require(server.requests.first).json()
        #expect(body["system"] as? String == "Be brief.\n\nAnswer in English.")
        #expect(body["model"] as? String == "claude-sonnet-4-5")
        #expect(body["max_tokens"] as? Int == 77)
        #expect(body["stop_sequences"] as? [String] == ["\n\nHuman:"])
        let messages = try #require(body["messages"] as? [[String: Any]])
        #expect(messages.map { $0["role"] as? String } == ["user", "assistant", "user"])
        #expect(messages.map { $0["content"] as? String } == ["Hi", "Hello!", "And now?"])
    }

    @Test("input tokens read from Anthropic's prompt cache are reported apart")
    func cachedInputTokens() async throws {
        let body = CannedReply.message.replacingOccurrences(
            of: #""usage":{"input_tokens":7,"output_tokens":2}"#,
            with: #""usage":{"input_tokens":7,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":1200}"#)
        #expect(body != CannedReply.message)
        let server = try RecordingServer(reply: .init(body: body))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = AnthropicProvider(settings: Fixture.settings(.anthropic, endpoints: [server.baseURL]), http: http)
        let response = try await provider.complete(Fixture.request("Hello"))
        #expect(response.tokensCachedInput == 1200)
        #expect(response.tokensInput == 7)

        let uncached = try RecordingServer(reply: .init(body: CannedReply.message))
        defer { uncached.stop() }
        let plain = try await AnthropicProvider(settings: Fixture.settings(.anthropic, endpoints: [uncached.baseURL]), http: http)
            .complete(Fixture.request("Hello"))
        #expect(plain.tokensCachedInput == 0)
    }

    @Test("without system messages the system field is left out")
    func noSystemField() async throws {
        let server = try RecordingServer(reply: .init(body: CannedReply.message))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = AnthropicProvider(settings: Fixture.settings(.anthropic, endpoints: [server.baseURL]), http: http)
        _ = try await provider.complete(Fixture.request("Hello"))
        let body = try #require(server.requests.first).json()
        #expect(body["system"] == nil)
    }
}

/// `ProviderFactory` picks the wire format from the tier's kind.
@Suite("ProviderFactory")
struct ProviderFactoryTests {
    @Test("the openai kind builds an OpenAIProvider that calls /v1/chat/completions")
    func openAIKind() async throws {
        try await withSimulator { simulator, http in
            let provider = ProviderFactory.make(Fixture.settings(.openai, endpoints: [simulator.baseURL], model: "qwen3-4b"), http: http)
            #expect(provider is OpenAIProvider)
            #expect(provider.model == "qwen3-4b")
            _ = try await provider.complete(Fixture.request("Hello"))
            #expect(simulator.stats.count(SimulatorStats.chatCompletions) == 1)
            #expect(simulator.stats.count(SimulatorStats.messages) == 0)
        }
    }

    @Test("the anthropic kind builds an AnthropicProvider that calls /v1/messages")
    func anthropicKind() async throws {
        try await withSimulator { simulator, http in
            let provider = ProviderFactory.make(
                Fixture.settings(.anthropic, endpoints: [simulator.baseURL], model: "claude-haiku-4-5"), http: http)
            #expect(provider is AnthropicProvider)
            #expect(provider.model == "claude-haiku-4-5")
            let response = try await provider.complete(Fixture.request("Hello"))
            #expect(response.model == "claude-haiku-4-5")
            #expect(simulator.stats.count(SimulatorStats.messages) == 1)
            #expect(simulator.stats.count(SimulatorStats.chatCompletions) == 0)
        }
    }
}
