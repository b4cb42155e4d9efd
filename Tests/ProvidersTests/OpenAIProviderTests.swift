import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import ProviderSimulator
import Providers
import Settings
import Testing

/// `OpenAIProvider` against the simulator's vLLM-compatible `/v1/chat/completions`.
@Suite("OpenAIProvider")
struct OpenAIProviderTests {
    @Test("a call returns the answer text, the server's usage counts, the model and the finish reason")
    func answerAndUsage() async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [simulator.baseURL]), http: http)
            // Non-ASCII on purpose: the simulator counts characters, the provider's own
            // fallback estimate counts UTF-8 bytes, so equality proves the usage was read.
            let prompt = "Perché il caffè è così amaro? Spiegalo in poche frasi, però."
            let system = "Rispondi in italiano, con pazienza e cortesia."
            let request = Fixture.request(prompt, system: [system])
            let response = try await provider.complete(request)

            #expect(!response.text.isEmpty)
            #expect(response.reasoning == nil)
            #expect(response.model == "qwen3-4b")
            #expect(response.finishReason == "stop")
            let expectedInput = Fixture.simulatorPromptTokens([system, prompt])
            #expect(expectedInput != TokenEstimator.estimate(system + prompt), "the two counts must differ for this check to mean anything")
            #expect(response.tokensInput == expectedInput)
            #expect(response.tokensOutput == Fixture.wordCount(response.text))
            #expect(simulator.stats.count(SimulatorStats.chatCompletions) == 1)
            #expect(simulator.stats.total == 1)
        }
    }

    @Test("the same prompt gives the same answer (the simulator is deterministic)")
    func deterministicAnswer() async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [simulator.baseURL]), http: http)
            let first = try await provider.complete(Fixture.request("How do I reverse a linked list?"))
            let second = try await provider.complete(Fixture.request("How do I reverse a linked list?"))
            #expect(first.text == second.text)
        }
    }

    @Test("wantLogprobs returns one logprob per generated token, with the mean the prompt asked for")
    func logprobsWhenAsked() async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [simulator.baseURL]), http: http)
            let response = try await provider.complete(
                Fixture.request("#sim logprob=-2.5\nDescribe the water cycle.", wantLogprobs: true))
            let logprobs = try #require(response.tokenLogprobs)
            #expect(logprobs.count == response.tokensOutput)
            #expect(logprobs.allSatisfy { $0 <= 0 })
            let mean = logprobs.reduce(0, +) / Double(logprobs.count)
            #expect(abs(mean - -2.5) < 0.001, "mean logprob \(mean)")
        }
    }

    @Test("without a logprob directive the logprobs are those of a confident model")
    func defaultLogprobs() async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [simulator.baseURL]), http: http)
            let response = try await provider.complete(Fixture.request("Describe the water cycle.", wantLogprobs: true))
            let logprobs = try #require(response.tokenLogprobs)
            let mean = logprobs.reduce(0, +) / Double(logprobs.count)
            #expect(mean > -0.2 && mean <= 0, "mean logprob \(mean)")
        }
    }

    @Test("no logprobs come back when none were asked for")
    func noLogprobsUnlessAsked() async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [simulator.baseURL]), http: http)
            let response = try await provider.complete(Fixture.request("#sim logprob=-2.5\nDescribe the water cycle."))
            #expect(response.tokenLogprobs == nil)
            #expect(!response.text.isEmpty)
        }
    }

    @Test("an empty answer has no logprobs (nil, not an empty array)")
    func emptyAnswerHasNoLogprobs() async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [simulator.baseURL]), http: http)
            let response = try await provider.complete(Fixture.request("#sim empty\nAnything", wantLogprobs: true))
            #expect(response.text.isEmpty)
            #expect(response.tokenLogprobs == nil)
            #expect(response.tokensOutput == 0)
        }
    }

    @Test("max_tokens is sent: a long answer is cut and the finish reason is length")
    func maxTokensIsSent() async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [simulator.baseURL]), http: http)
            let response = try await provider.complete(Fixture.request("Explain how TCP congestion control works.", maxTokens: 5))
            #expect(response.tokensOutput == 5)
            #expect(Fixture.wordCount(response.text) == 5)
            #expect(response.finishReason == "length")
        }
    }

    @Test("#sim think: the <think> block is stripped from the text and kept as reasoning")
    func thinkBlockIsStripped() async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [simulator.baseURL]), http: http)
            let prompt = "Compare merge sort and quicksort for large arrays."
            let thinking = try await provider.complete(Fixture.request("#sim think\n" + prompt))
            let plain = try await provider.complete(Fixture.request(prompt))

            #expect(!thinking.text.contains("<think>") && !thinking.text.contains("</think>"))
            #expect(thinking.text == plain.text, "the answer after the reasoning is the ordinary answer")
            let reasoning = try #require(thinking.reasoning)
            #expect(reasoning.contains("The user asks about"))
            #expect(!reasoning.contains("<think>"))
            // Usage still counts every generated token, reasoning included.
            #expect(thinking.tokensOutput > plain.tokensOutput)
        }
    }

    @Test(
        "the endpoint may be given with or without /v1 and with a trailing slash",
        arguments: ["", "/", "/v1", "/v1/"]
    )
    func endpointForms(suffix: String) async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [simulator.baseURL + suffix]), http: http)
            let response = try await provider.complete(Fixture.request("Hello"))
            #expect(!response.text.isEmpty)
            #expect(simulator.stats.count(SimulatorStats.chatCompletions) == 1)
        }
    }

    @Test("the configured model is sent and echoed back")
    func modelIsSent() async throws {
        try await withSimulator { simulator, http in
            let provider = OpenAIProvider(
                settings: Fixture.settings(.openai, endpoints: [simulator.baseURL], model: "deepseek-r1"), http: http)
            #expect(provider.model == "deepseek-r1")
            let response = try await provider.complete(Fixture.request("Hello"))
            #expect(response.model == "deepseek-r1")
        }
    }
}

/// What `OpenAIProvider` puts on the wire, recorded by a plain socket server because the
/// simulator does not look at the `authorization` header.
@Suite("OpenAIProvider request")
struct OpenAIProviderRequestTests {
    @Test("the API key is sent as a bearer token, with a JSON content type, to /v1/chat/completions")
    func bearerKeyIsSent() async throws {
        let server = try RecordingServer(reply: .init(body: CannedReply.chatCompletion))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL], apiKey: "sk-local-123"), http: http)
        let response = try await provider.complete(Fixture.request("Hello"))

        #expect(response.text == "Canned answer.")
        #expect(response.tokensInput == 7 && response.tokensOutput == 2)
        let recorded = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        #expect(recorded.requestLine.hasPrefix("POST "))
        #expect(recorded.path == "/v1/chat/completions")
        #expect(recorded.headers["authorization"] == "Bearer sk-local-123")
        #expect(recorded.headers["content-type"] == "application/json")
    }

    @Test("without an API key no authorization header is sent")
    func noKeyNoHeader() async throws {
        let server = try RecordingServer(reply: .init(body: CannedReply.chatCompletion))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL], apiKey: nil), http: http)
        _ = try await provider.complete(Fixture.request("Hello"))
        let recorded = try #require(server.requests.first)
        #expect(recorded.headers["authorization"] == nil)
    }

    @Test("the body carries model, messages in order, max_tokens, stream false, and logprobs only when asked")
    func bodyFields() async throws {
        let server = try RecordingServer(reply: .init(body: CannedReply.chatCompletion))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL]), http: http)
        _ = try await provider.complete(Fixture.request("Hello", system: ["Be brief."], wantLogprobs: true, maxTokens: 64))
        _ = try await provider.complete(Fixture.request("Hello"))

        #expect(server.requests.count == 2)
        let asked = try #require(server.requests.first).json()
        #expect(asked["model"] as? String == "qwen3-4b")
        #expect(asked["max_tokens"] as? Int == 64)
        #expect(asked["stream"] as? Bool == false)
        #expect(asked["logprobs"] as? Bool == true)
        let messages = try #require(asked["messages"] as? [[String: Any]])
        #expect(messages.map { $0["role"] as? String } == ["system", "user"])
        #expect(messages.map { $0["content"] as? String } == ["Be brief.", "Hello"])

        let notAsked = try server.requests[1].json()
        #expect(notAsked["logprobs"] == nil)
    }

    @Test("reasoning_content from a vLLM reasoning parser is the reasoning; content is the answer")
    func reasoningContentField() async throws {
        let body = CannedReply.chatCompletion
            .replacingOccurrences(
                of: #""content":"Canned answer.","reasoning_content":null"#,
                with: #""content":"Canned answer.","reasoning_content":"Thought it through.""#)
        #expect(body != CannedReply.chatCompletion)
        let server = try RecordingServer(reply: .init(body: body))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL]), http: http)
        let response = try await provider.complete(Fixture.request("Hello"))
        #expect(response.text == "Canned answer.")
        #expect(response.reasoning == "Thought it through.")
    }
}
