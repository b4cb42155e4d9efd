import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import Settings
import Testing

@testable import Providers

/// What real OpenAI-compatible engines send that the simulator does not: llama.cpp's extra
/// fields and quirks, bodies with optional fields missing, split-off reasoning, and every
/// error body shape. The bodies are copied from llama.cpp's server (see docs/ENGINES.md);
/// RealEngineTests checks the same against the running engine.
@Suite("Engine wire formats")
struct EngineWireFormatTests {
    /// Answers one request with `status` and `body`, and returns what the provider made of it.
    func exchange(status: Int = 200, body: String, request: ProviderRequest = Fixture.request("Hello", wantLogprobs: true)) async throws -> Result<
        ProviderResponse, ProviderError
    > {
        let server = try RecordingServer(reply: .init(status: status, body: body))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL]), http: http)
        do {
            return .success(try await provider.complete(request))
        } catch {
            return .failure(error)
        }
    }

    /// llama.cpp's reply (abridged to 4 logprob entries): `timings`, `prompt_tokens_details`,
    /// `system_fingerprint`, `bytes` and `top_logprobs` it adds; 5 completion tokens but 4
    /// entries, because a token ending in a partial UTF-8 character was merged with the next;
    /// the first token is " JMP" but the content starts "JMP".
    static let llamaCppReply = """
        {"choices":[{"finish_reason":"length","index":0,
          "message":{"role":"assistant","content":"JMPね remained �涍"},
          "logprobs":{"content":[
            {"id":88251,"token":" JMP","bytes":[32,74,77,80],"logprob":-5.64914608001709,
             "top_logprobs":[{"id":130569,"token":" cập","bytes":[32,99,225,186,173,112],"logprob":-4.188752174377441}]},
            {"id":124381,"token":"ね","bytes":[227,129,173],"logprob":-4.5174174308776855,"top_logprobs":[]},
            {"id":14616,"token":" remained","bytes":[32,114,101,109,97,105,110,101,100],"logprob":-2.25,"top_logprobs":[]},
            {"id":1,"token":" �涍","bytes":[32,230,179,230,182,141],"logprob":-6.5,"top_logprobs":[]}]}}],
         "created":1795768890,"model":"tiny-qwen3","system_fingerprint":"b0-unknown","object":"chat.completion",
         "usage":{"completion_tokens":5,"prompt_tokens":14,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":13}},
         "id":"chatcmpl-JFQuZRPYlCIkSAaUQExOyOLcbG1HjXa5",
         "timings":{"cache_n":13,"prompt_n":1,"prompt_ms":2.232,"predicted_n":5,"predicted_ms":46.967,"predicted_per_second":319.37}}
        """

    @Test("llama.cpp's extra fields are ignored; its merged logprob entries and stripped leading space do not matter")
    func llamaCppReply() async throws {
        let response = try await exchange(body: Self.llamaCppReply).get()
        #expect(response.text == "JMPね remained �涍")
        #expect(response.tokensInput == 14)
        #expect(response.tokensOutput == 5)
        #expect(response.finishReason == "length")
        #expect(response.model == "tiny-qwen3")
        let logprobs = try #require(response.tokenLogprobs)
        #expect(logprobs == [-5.64914608001709, -4.5174174308776855, -2.25, -6.5])
        // The entries are kept as they come (the scorer averages over them), not padded or
        // cut to completion_tokens.
        #expect(logprobs.count < response.tokensOutput)
    }

    @Test("only choices[0].message.content is required; missing, null or odd optional fields count as absent")
    func minimalAndOddReplies() async throws {
        let minimal = try await exchange(body: #"{"choices":[{"message":{"content":"A short answer."}}]}"#).get()
        #expect(minimal.text == "A short answer.")
        #expect(minimal.model == "qwen3-4b")
        #expect(minimal.tokenLogprobs == nil)
        #expect(minimal.finishReason == nil)
        #expect(minimal.tokensOutput == TokenEstimator.estimate("A short answer."))

        let nulls = try await exchange(
            body: """
                {"id":null,"model":null,"usage":null,"choices":[{"index":0,"message":{"role":"assistant","content":"Fine.","tool_calls":null},\
                "logprobs":null,"finish_reason":null}]}
                """
        ).get()
        #expect(nulls.text == "Fine.")
        #expect(nulls.tokenLogprobs == nil)

        // Usage numbers as strings, a logprob entry without a logprob, logprobs in an unknown shape.
        let odd = try await exchange(
            body: """
                {"usage":{"prompt_tokens":"7","completion_tokens":2},"choices":[{"message":{"content":"Odd but usable."},\
                "logprobs":{"content":[{"token":"Odd","logprob":-0.5},{"token":" but"},{"token":" usable","logprob":null},{"token":".","logprob":-0.1}]}}]}
                """
        ).get()
        #expect(odd.text == "Odd but usable.")
        #expect(odd.tokensOutput == 2)
        // No prompt_tokens the provider could read: the estimate of the one "Hello" message.
        #expect(odd.tokensInput == TokenEstimator.estimate([ChatMessage(role: "user", content: "Hello")]))
        #expect(odd.tokenLogprobs == [-0.5, -0.1])
        let legacy = try await exchange(
            body: #"{"choices":[{"message":{"content":"Legacy."},"logprobs":{"tokens":["Legacy"],"token_logprobs":[-0.2]}}]}"#
        ).get()
        #expect(legacy.tokenLogprobs == nil)

        // Content as a list of parts.
        let parts = try await exchange(
            body: #"{"choices":[{"message":{"content":[{"type":"text","text":"Two "},{"type":"text","text":"parts."}]}}]}"#
        ).get()
        #expect(parts.text == "Two parts.")
    }

    @Test("a body without choices is still bad_response")
    func noChoices() async throws {
        let result = try await exchange(body: #"{"object":"chat.completion","choices":[]}"#)
        guard case .failure(let error) = result else { Issue.record("expected a failure, got \(result)"); return }
        #expect(error.code == .badResponse)
    }

    @Test("reasoning_content (llama.cpp, vLLM) and reasoning (newer vLLM) leave the answer like R1's inline think block")
    func splitReasoning() async throws {
        let split = try await exchange(
            body: """
                {"choices":[{"message":{"content":"The sky scatters blue light.","reasoning_content":"Rayleigh scattering goes as 1/λ⁴."}}]}
                """
        ).get()
        #expect(split.text == "The sky scatters blue light.")
        #expect(split.reasoning == "Rayleigh scattering goes as 1/λ⁴.")

        let newer = try await exchange(body: #"{"choices":[{"message":{"content":"Yes.","reasoning":"Short check."}}]}"#).get()
        #expect(newer.text == "Yes.")
        #expect(newer.reasoning == "Short check.")

        // An empty reasoning_content is no reasoning; the inline block still counts.
        let inline = try await exchange(body: #"{"choices":[{"message":{"content":"<think>hmm</think>\n\nNo.","reasoning_content":""}}]}"#).get()
        #expect(inline.text == "No.")
        #expect(inline.reasoning == "hmm")
        let none = try await exchange(body: #"{"choices":[{"message":{"content":"Plain.","reasoning_content":""}}]}"#).get()
        #expect(none.reasoning == nil)

        // Out of tokens while thinking: no answer at all, which the fallback policy calls empty.
        let unfinished = try await exchange(
            body: #"{"choices":[{"message":{"content":null,"reasoning_content":"Let me think about"},"finish_reason":"length"}]}"#
        ).get()
        #expect(unfinished.text.isEmpty)
        #expect(unfinished.reasoning == "Let me think about")
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        var status: Int
        var body: String
        var code: ProviderError.Code
        var message: String
        var testDescription: String { name }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(
            name: "llama.cpp rejects n > 1", status: 400,
            body: #"{"error":{"code":400,"message":"Field 'n': Value must be between 1 <= value <= 1, but got 2","type":"invalid_request_error"}}"#,
            code: .http4xx, message: "Field 'n': Value must be between 1 <= value <= 1, but got 2"),
        ErrorCase(
            name: "llama.cpp's context overflow", status: 400,
            body:
                #"{"error":{"code":400,"message":"request (5009 tokens) exceeds the available context size (4096 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5009,"n_ctx":4096}}"#,
            code: .contextLength, message: "request (5009 tokens) exceeds the available context size (4096 tokens)"),
        ErrorCase(
            name: "OpenAI's context_length_exceeded", status: 400,
            body:
                #"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            code: .contextLength, message: "maximum context length is 8192 tokens"),
        ErrorCase(
            name: "vLLM's flat error about the context", status: 400,
            body:
                #"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5100 tokens (4100 in the messages, 1000 in the completion).","type":"BadRequestError","param":null,"code":400}"#,
            code: .contextLength, message: "However, you requested 5100 tokens"),
        ErrorCase(
            name: "llama.cpp's 404", status: 404,
            body: #"{"error":{"message":"File Not Found","type":"not_found_error","code":404}}"#,
            code: .http4xx, message: "File Not Found"),
        ErrorCase(
            name: "llama.cpp still loading the model", status: 503,
            body: #"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#,
            code: .http5xx, message: "Loading model"),
        ErrorCase(
            name: "Ollama's native error", status: 404,
            body: #"{"error":"model \"qwen3:4b\" not found, try pulling it first"}"#,
            code: .http4xx, message: #"model "qwen3:4b" not found"#),
        ErrorCase(name: "FastAPI's detail", status: 401, body: #"{"detail":"Unauthorized"}"#, code: .http4xx, message: "Unauthorized"),
        ErrorCase(name: "plain text", status: 500, body: "Internal Server Error\n", code: .http5xx, message: "Internal Server Error"),
        ErrorCase(
            name: "a proxy's HTML page", status: 502,
            body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body></html>",
            code: .http5xx, message: "502 Bad Gateway"),
    ]

    @Test("error bodies of every shape map to Cervella's codes and carry the engine's message", arguments: errorCases)
    func errorBodies(_ errorCase: ErrorCase) async throws {
        let result = try await exchange(status: errorCase.status, body: errorCase.body)
        guard case .failure(let error) = result else { Issue.record("expected a failure, got \(result)"); return }
        #expect(error.code == errorCase.code)
        #expect(error.status == errorCase.status)
        #expect(error.fallbackReason == "error_\(errorCase.code.name)")
        #expect(error.message.contains(errorCase.message), "message: \(error.message)")
        #expect(!error.message.contains("\n") && !error.message.contains("<title>"))
    }

    @Test("the engine's message is cut to one short line, and quoted prompt text is left out")
    func messagesAreSafeForLogs() async throws {
        let long = String(repeating: "very long explanation ", count: 40)
        let cut = try await exchange(status: 400, body: #"{"error":{"code":400,"message":"\#(long)","type":"invalid_request_error"}}"#)
        guard case .failure(let error) = cut else { Issue.record("expected a failure"); return }
        #expect(error.message.count < ErrorBody.messageLimit + 60, "\(error.message.count) characters")
        #expect(error.message.hasSuffix("…"))

        let prompt = "Confidential: the merger with Acme closes on Friday."
        let body =
            #"{"error":{"code":400,"message":"[json.exception.parse_error.101] parse error at line 1: syntax error; last read: 'the merger with Acme closes' near 'messages'","type":"invalid_request_error"}}"#
        let echoed = try await exchange(status: 400, body: body, request: Fixture.request(prompt))
        guard case .failure(let echo) = echoed else { Issue.record("expected a failure"); return }
        #expect(!echo.message.contains("merger"), "message: \(echo.message)")
        #expect(echo.message.contains("parse error"))
        #expect(echo.message.contains("last read: '…'"))
        // What is not prompt text stays.
        #expect(echo.message.contains("'messages'"))
    }
}
