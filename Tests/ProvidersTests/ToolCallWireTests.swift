import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import Settings
import Testing

@testable import Providers

/// Tools through an OpenAI-compatible engine: what the provider sends (the job's tools, tool
/// choice, response format and seed; assistant tool calls and tool results in the messages) and
/// what it reads back, engine quirks included (arguments as an object, missing ids,
/// `finish_reason` `stop` beside calls).
@Suite("Tool calls on the OpenAI wire")
struct ToolCallWireTests {
    static let weather: JSONValue = .object([
        "type": .string("function"),
        "function": .object([
            "name": .string("weather"), "description": .string("Today's weather in a city"),
            "parameters": .object([
                "type": .string("object"), "properties": .object(["city": .object(["type": .string("string")])]),
                "required": .array([.string("city")]),
            ]),
        ]),
    ])

    static func agentStep() -> ProviderRequest {
        let messages = [
            ChatMessage(role: "user", content: "Weather in Paris?"),
            ChatMessage(
                role: "assistant", content: nil, toolCalls: [ToolCall(id: "call_1", name: "weather", arguments: #"{"city":"Paris"}"#)]),
            ChatMessage(role: "tool", content: .text("18 C, sunny"), toolCallID: "call_1"),
        ]
        return ProviderRequest(
            messages: messages, maxTokens: 64, timeout: .seconds(5), tools: [weather], toolChoice: .string("auto"),
            responseFormat: .object(["type": .string("json_object")]), parallelToolCalls: false, seed: 42)
    }

    func exchange(_ body: String, request: ProviderRequest = agentStep()) async throws -> (ProviderResponse, RecordingServer.Recorded) {
        let server = try RecordingServer(reply: .init(status: 200, body: body))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL]), http: http)
        let response = try await provider.complete(request)
        return (response, try #require(server.requests.first))
    }

    static func reply(message: String, finish: String?) -> String {
        let reason = finish.map { "\"\($0)\"" } ?? "null"
        return #"{"choices":[{"index":0,"finish_reason":"# + reason + #","message":"# + message
            + #"}],"usage":{"prompt_tokens":30,"completion_tokens":12},"model":"qwen3-4b"}"#
    }

    @Test func theJobsToolsAndToolMessagesAreSentInOpenAIsShape() async throws {
        let (_, sent) = try await exchange(Self.reply(message: #"{"role":"assistant","content":"It is sunny."}"#, finish: "stop"))
        let body = try sent.json()
        let tools = try #require(body["tools"] as? [[String: Any]])
        #expect((tools.first?["function"] as? [String: Any])?["name"] as? String == "weather")
        #expect(body["tool_choice"] as? String == "auto")
        #expect(body["response_format"] as? [String: String] == ["type": "json_object"])
        #expect(body["parallel_tool_calls"] as? Bool == false)
        #expect(body["seed"] as? Int == 42)
        let messages = try #require(body["messages"] as? [[String: Any]])
        #expect(messages.count == 3)
        #expect(messages[1]["content"] is NSNull)
        let calls = try #require(messages[1]["tool_calls"] as? [[String: Any]])
        #expect(calls.first?["id"] as? String == "call_1")
        #expect(calls.first?["type"] as? String == "function")
        #expect(calls.first?["function"] as? [String: String] == ["name": "weather", "arguments": #"{"city":"Paris"}"#])
        #expect(messages[2]["tool_call_id"] as? String == "call_1")
        #expect(messages[2]["content"] as? String == "18 C, sunny")
    }

    @Test func aPlainRequestSendsNoToolFields() async throws {
        let (_, sent) = try await exchange(
            Self.reply(message: #"{"role":"assistant","content":"Hi."}"#, finish: "stop"), request: Fixture.request("Hello"))
        let body = try sent.json()
        for field in ["tools", "tool_choice", "response_format", "parallel_tool_calls", "seed"] { #expect(body[field] == nil, "\(field)") }
        let messages = try #require(body["messages"] as? [[String: Any]])
        #expect(Set(messages[0].keys) == ["role", "content"])
    }

    /// vLLM with `--tool-call-parser hermes`: arguments as JSON text, `finish_reason` `tool_calls`.
    @Test func vLLMsToolCallsAreRead() async throws {
        let message =
            #"{"role":"assistant","content":null,"tool_calls":[{"id":"chatcmpl-tool-1a2b","type":"function","function":{"name":"weather","arguments":"{\"city\": \"Paris\"}"}}]}"#
        let (response, _) = try await exchange(Self.reply(message: message, finish: "tool_calls"))
        #expect(response.text == "")
        #expect(response.finishReason == "tool_calls")
        #expect(response.toolCalls == [ToolCall(id: "chatcmpl-tool-1a2b", name: "weather", arguments: #"{"city": "Paris"}"#)])
    }

    /// Ollama: arguments as an object and no id; llama.cpp: `finish_reason` `stop` beside calls.
    @Test func engineQuirksAreNormalised() async throws {
        let message =
            #"{"role":"assistant","content":"","tool_calls":[{"function":{"name":"weather","arguments":{"days":2,"city":"Paris"}}},{"function":{"arguments":"{}"}}]}"#
        let (response, _) = try await exchange(Self.reply(message: message, finish: "stop"))
        #expect(response.finishReason == "tool_calls")
        let calls = try #require(response.toolCalls)
        #expect(calls.count == 2)
        #expect(calls[0].name == "weather")
        #expect(calls[0].arguments == #"{"city":"Paris","days":2}"#)
        #expect(calls[0].id.hasPrefix("call_"))
        #expect(calls[0].id.count == 30)
        #expect(calls[1].id != calls[0].id)
        // A call without a name is kept with an empty one, for the worker's check to refuse.
        #expect(calls[1].name == "")
    }

    @Test func finishReasonsOtherThanStopAreKept() {
        let call = [ToolCall(id: "c", name: "f", arguments: "{}")]
        #expect(OpenAIProvider.finishReason("length", toolCalls: call) == "length")
        #expect(OpenAIProvider.finishReason(nil, toolCalls: call) == "tool_calls")
        #expect(OpenAIProvider.finishReason("stop", toolCalls: nil) == "stop")
        #expect(OpenAIProvider.finishReason("stop", toolCalls: []) == "stop")
    }
}
