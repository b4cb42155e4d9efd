import Foundation
import JobProtocol
import Testing

@testable import Providers

/// The job (OpenAI's shapes) to Anthropic's Messages API and back, without a server.
@Suite struct AnthropicWireTests {
    static let weather: JSONValue = .object([
        "type": .string("function"),
        "function": .object([
            "name": .string("weather"), "description": .string("Today's weather"),
            "parameters": .object(["type": .string("object"), "required": .array([.string("city")])]),
        ]),
    ])

    static func request(
        _ messages: [ChatMessage], tools: [JSONValue]? = nil, toolChoice: JSONValue? = nil, format: JSONValue? = nil, parallel: Bool? = nil
    )
        -> ProviderRequest
    {
        ProviderRequest(
            messages: messages, maxTokens: 100, temperature: 0.5, timeout: .seconds(1), tools: tools, toolChoice: toolChoice, responseFormat: format,
            parallelToolCalls: parallel, seed: 7)
    }

    static func body(_ request: ProviderRequest) throws -> (json: [String: Any], forced: Bool) {
        let (bytes, forced) = try AnthropicWire.body(model: "claude-sonnet-4-5", request: request)
        return (try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]), forced)
    }

    static func turns(_ json: [String: Any]) throws -> [[String: Any]] { try #require(json["messages"] as? [[String: Any]]) }

    @Test func anAgentLoopBecomesToolUseAndMergedToolResults() throws {
        let messages = [
            ChatMessage(role: "system", content: "Be brief."),
            ChatMessage(role: "user", content: "Weather in Paris and Rome?"),
            ChatMessage(
                role: "assistant", content: .text("Checking."),
                toolCalls: [
                    ToolCall(id: "call_a", name: "weather", arguments: #"{"city":"Paris"}"#),
                    ToolCall(id: "call_b", name: "weather", arguments: #"{"city":"Rome"}"#),
                ]),
            ChatMessage(role: "tool", content: .text("18 C"), toolCallID: "call_a"),
            ChatMessage(role: "tool", content: .text("21 C"), toolCallID: "call_b"),
            ChatMessage(role: "user", content: "And tomorrow?"),
        ]
        let (json, forced) = try Self.body(Self.request(messages, tools: [Self.weather]))
        #expect(!forced)
        #expect(json["system"] as? String == "Be brief.")
        #expect(json["seed"] == nil)
        let turns = try Self.turns(json)
        #expect(turns.map { $0["role"] as? String } == ["user", "assistant", "user"])
        #expect(turns[0]["content"] as? String == "Weather in Paris and Rome?")
        let assistant = try #require(turns[1]["content"] as? [[String: Any]])
        #expect(assistant.map { $0["type"] as? String } == ["text", "tool_use", "tool_use"])
        #expect(assistant[1]["id"] as? String == "call_a")
        #expect(assistant[1]["name"] as? String == "weather")
        #expect(assistant[1]["input"] as? [String: String] == ["city": "Paris"])
        // Both results and the user's next words in one user turn, results first.
        let results = try #require(turns[2]["content"] as? [[String: Any]])
        #expect(results.map { $0["type"] as? String } == ["tool_result", "tool_result", "text"])
        #expect(results[0]["tool_use_id"] as? String == "call_a")
        #expect(results[0]["content"] as? String == "18 C")
        #expect(results[1]["tool_use_id"] as? String == "call_b")
        #expect(results[2]["text"] as? String == "And tomorrow?")
        let tools = try #require(json["tools"] as? [[String: Any]])
        #expect(tools.first?["name"] as? String == "weather")
        #expect(tools.first?["description"] as? String == "Today's weather")
        #expect((tools.first?["input_schema"] as? [String: Any])?["required"] as? [String] == ["city"])
    }

    @Test func anAssistantTurnThatOnlyCallsHasNoEmptyTextBlock() throws {
        let messages = [
            ChatMessage(role: "user", content: "Weather?"),
            ChatMessage(role: "assistant", content: nil, toolCalls: [ToolCall(id: "c1", name: "weather", arguments: "{}")]),
            ChatMessage(role: "tool", content: .text("ok"), toolCallID: "c1"),
        ]
        let turns = try Self.turns(Self.body(Self.request(messages, tools: [Self.weather])).json)
        #expect((turns[1]["content"] as? [[String: Any]])?.map { $0["type"] as? String } == ["tool_use"])
    }

    @Test(arguments: [
        (JSONValue.string("auto"), #"{"type":"auto"}"#),
        (.string("none"), #"{"type":"none"}"#),
        (.string("required"), #"{"type":"any"}"#),
        (.object(["type": .string("function"), "function": .object(["name": .string("weather")])]), #"{"name":"weather","type":"tool"}"#),
    ])
    func toolChoicesTranslate(choice: JSONValue, expected: String) throws {
        let translated = try AnthropicWire.toolChoice(choice)
        var writer = JSONWriter()
        writer.value(translated)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == expected)
    }

    @Test func noParallelCallsIsSaidInTheToolChoice() throws {
        let (json, _) = try Self.body(Self.request([ChatMessage(role: "user", content: "hi")], tools: [Self.weather], parallel: false))
        let choice = try #require(json["tool_choice"] as? [String: Any])
        #expect(choice["type"] as? String == "auto")
        #expect(choice["disable_parallel_tool_use"] as? Bool == true)
        let (named, _) = try Self.body(
            Self.request([ChatMessage(role: "user", content: "hi")], tools: [Self.weather], toolChoice: .string("required"), parallel: false))
        let required = try #require(named["tool_choice"] as? [String: Any])
        #expect(required["type"] as? String == "any")
        #expect(required["disable_parallel_tool_use"] as? Bool == true)
    }

    @Test func imagesBecomeImageBlocks() throws {
        let parts: [JSONValue] = [
            .object(["type": .string("text"), "text": .string("What is this?")]),
            .object(["type": .string("image_url"), "image_url": .object(["url": .string("data:image/png;base64,iVBORw0KGgo=")])]),
            .object(["type": .string("image_url"), "image_url": .object(["url": .string("https://example.com/cat.jpg")])]),
        ]
        let turns = try Self.turns(Self.body(Self.request([ChatMessage(role: "user", content: .parts(parts))])).json)
        let blocks = try #require(turns[0]["content"] as? [[String: Any]])
        #expect(blocks[0]["type"] as? String == "text")
        #expect(blocks[1]["type"] as? String == "image")
        #expect(blocks[1]["source"] as? [String: String] == ["type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="])
        #expect(blocks[2]["source"] as? [String: String] == ["type": "url", "url": "https://example.com/cat.jpg"])
        #expect(throws: AnthropicWire.Failure.self) {
            try AnthropicWire.block(.object(["type": .string("image_url"), "image_url": .object(["url": .string("data:image/png,raw")])]), at: 0)
        }
    }

    @Test func aJSONSchemaResponseFormatIsAForcedToolWhoseInputIsTheAnswer() throws {
        let schema: JSONValue = .object(["type": .string("object"), "properties": .object(["answer": .object(["type": .string("integer")])])])
        let format: JSONValue = .object(["type": .string("json_schema"), "json_schema": .object(["name": .string("a"), "schema": schema])])
        let (json, forced) = try Self.body(Self.request([ChatMessage(role: "user", content: "6 x 7?")], format: format))
        #expect(forced)
        #expect(json["tool_choice"] as? [String: String] == ["type": "tool", "name": AnthropicWire.answerTool])
        let tools = try #require(json["tools"] as? [[String: Any]])
        #expect(tools.count == 1)
        #expect((tools[0]["input_schema"] as? [String: Any])?["type"] as? String == "object")

        let blocks: [JSONValue] = [
            .object([
                "type": .string("tool_use"), "id": .string("toolu_01"), "name": .string(AnthropicWire.answerTool),
                "input": .object(["answer": .integer(42)]),
            ])
        ]
        let answer = AnthropicWire.answer(blocks: blocks, stopReason: "tool_use", forcedAnswer: true)
        #expect(answer == AnthropicWire.Answer(text: #"{"answer":42}"#, toolCalls: nil, finishReason: "stop"))
    }

    @Test func toolsWithAResponseFormatAreRefusedNamingBoth() {
        let format: JSONValue = .object(["type": .string("json_object")])
        #expect(throws: AnthropicWire.Failure(message: "response_format together with tools cannot be sent to Claude: send one or the other")) {
            _ = try AnthropicWire.body(
                model: "m", request: Self.request([ChatMessage(role: "user", content: "hi")], tools: [Self.weather], format: format))
        }
    }

    @Test func aToolMessageWithoutItsCallIDOrBadArgumentsIsRefused() {
        #expect(throws: AnthropicWire.Failure.self) {
            _ = try AnthropicWire.turns([ChatMessage(role: "tool", content: .text("18 C"))])
        }
        #expect(throws: AnthropicWire.Failure.self) {
            _ = try AnthropicWire.turns([
                ChatMessage(role: "assistant", content: nil, toolCalls: [ToolCall(id: "c", name: "f", arguments: "not json")])
            ])
        }
    }

    @Test func toolUseAnswersComeBackAsOpenAIToolCallsWithTheirIDs() {
        let blocks: [JSONValue] = [
            .object(["type": .string("thinking"), "thinking": .string("…")]),
            .object(["type": .string("text"), "text": .string("Let me check.")]),
            .object([
                "type": .string("tool_use"), "id": .string("toolu_01A"), "name": .string("weather"),
                "input": .object(["days": .integer(2), "city": .string("Paris")]),
            ]),
        ]
        let answer = AnthropicWire.answer(blocks: blocks, stopReason: "tool_use", forcedAnswer: false)
        #expect(answer.text == "Let me check.")
        #expect(answer.toolCalls == [ToolCall(id: "toolu_01A", name: "weather", arguments: #"{"city":"Paris","days":2}"#)])
        #expect(answer.finishReason == "tool_calls")
    }

    @Test(arguments: [
        ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"),
    ])
    func stopReasonsBecomeFinishReasons(stop: String, finish: String) {
        #expect(AnthropicWire.finishReason(stop) == finish)
    }
}
