import Foundation
import Hummingbird
import JobProtocol
import Testing

@testable import Gateway

/// `/v1/messages`: Anthropic's request to a job (OpenAI's shapes) and the answer back.
@Suite struct MessagesTranslationTests {
    func request(_ json: String) throws -> MessagesRequest {
        try JSONDecoder().decode(MessagesRequest.self, from: Data(json.utf8))
    }

    @Test func anAgentConversationBecomesToolCallsAndToolMessages() throws {
        let body = try request(
            #"""
            {"model":"auto","max_tokens":300,"system":[{"type":"text","text":"Be brief."},{"type":"text","text":"Use tools."}],
             "messages":[
              {"role":"user","content":"Weather in Paris?"},
              {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris","days":2}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18 C"},
                                        {"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"no such city"}],"is_error":true},
                                        {"type":"text","text":"Thanks"}]}],
             "tools":[{"name":"weather","description":"Today's weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
             "tool_choice":{"type":"tool","name":"weather","disable_parallel_tool_use":true}}
            """#)
        let messages = try MessagesTranslation.messages(body)
        #expect(messages.map(\.role) == ["system", "user", "assistant", "tool", "tool", "user"])
        #expect(messages[0].text == "Be brief.\n\nUse tools.")
        #expect(messages[2].text == "Checking.")
        #expect(messages[2].toolCalls == [ToolCall(id: "toolu_1", name: "weather", arguments: #"{"city":"Paris","days":2}"#)])
        #expect(messages[3].toolCallID == "toolu_1")
        #expect(messages[3].text == "18 C")
        #expect(messages[4].toolCallID == "toolu_2")
        #expect(messages[4].text == "Error:\nno such city")
        #expect(messages[5].text == "Thanks")

        let params = try MessagesTranslation.params(body)
        #expect(params.maxTokens == 300)
        #expect(params.tools?.first?["function"]?["name"]?.stringValue == "weather")
        #expect(params.tools?.first?["function"]?["parameters"]?["type"]?.stringValue == "object")
        #expect(params.tools?.first?["function"]?["description"]?.stringValue == "Today's weather")
        #expect(params.toolChoice?["function"]?["name"]?.stringValue == "weather")
        #expect(params.parallelToolCalls == false)
    }

    @Test(arguments: [("auto", JSONValue.string("auto")), ("any", .string("required")), ("none", .string("none"))])
    func toolChoicesTranslate(type: String, expected: JSONValue) throws {
        let body = try request(#"{"model":"auto","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"\#(type)"}}"#)
        #expect(try MessagesTranslation.params(body).toolChoice == expected)
    }

    @Test func imagesBecomeImageURLParts() throws {
        let body = try request(
            #"{"model":"auto","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},{"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}},{"type":"text","text":"What is it?"}]}]}"#
        )
        let message = try #require(try MessagesTranslation.messages(body).first)
        #expect(message.hasNonTextParts)
        guard case .parts(let parts)? = message.content else { Issue.record("not parts"); return }
        #expect(parts[0]["image_url"]?["url"]?.stringValue == "data:image/png;base64,iVBO")
        #expect(parts[1]["image_url"]?["url"]?.stringValue == "https://example.com/a.jpg")
    }

    @Test func unknownBlocksAndServerToolsAreRefusedByName() throws {
        let thinking = try request(
            #"{"model":"auto","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"thinking","thinking":"…"}]}]}"#
        )
        #expect(throws: MessagesTranslation.Failure.self) { _ = try MessagesTranslation.messages(thinking) }
        let server = try request(
            #"{"model":"auto","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#
        )
        #expect(
            throws: MessagesTranslation.Failure(
                message:
                    "tools[0]: Anthropic's server tool 'web_search_20250305' is not supported; define a tool with name, description and input_schema")
        ) { _ = try MessagesTranslation.params(server) }
    }

    @Test func answersComeBackAsTextAndToolUseBlocks() throws {
        let metadata = ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 5, queueMs: 1, confidence: 0.9, costUSD: 0, tokensInput: 30, tokensOutput: 12,
            tierDecisionReason: "r", worker: "w", timestamp: "t")
        let result = JobResult.success(
            id: "j1", response: "", metadata: metadata,
            toolCalls: [ToolCall(id: "chatcmpl-tool-1", name: "weather", arguments: #"{"city":"Paris"}"#)], finishReason: "tool_calls")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(MessagesTranslation.body(id: "j1", result: result, metadata: metadata))) as? [String: Any])
        #expect(object["id"] as? String == "msg_j1")
        #expect(object["type"] as? String == "message")
        #expect(object["model"] as? String == "qwen3-4b")
        #expect(object["stop_reason"] as? String == "tool_use")
        let blocks = try #require(object["content"] as? [[String: Any]])
        #expect(blocks.count == 1)
        #expect(blocks[0]["type"] as? String == "tool_use")
        #expect(blocks[0]["id"] as? String == "chatcmpl-tool-1")
        #expect(blocks[0]["input"] as? [String: String] == ["city": "Paris"])
        #expect(object["usage"] as? [String: Int] == ["input_tokens": 30, "output_tokens": 12])

        let text = JobResult.success(id: "j2", response: "Sunny.", metadata: metadata, finishReason: "length")
        let plain = try #require(
            try JSONSerialization.jsonObject(with: Data(MessagesTranslation.body(id: "j2", result: text, metadata: metadata))) as? [String: Any])
        #expect(plain["stop_reason"] as? String == "max_tokens")
        #expect((plain["content"] as? [[String: String]]) == [["type": "text", "text": "Sunny."]])
    }

    /// Prompt caching and citations ask for what the pool does not do: refused by name.
    @Test func blockFieldsThePoolCannotHonourAreRefusedByName() throws {
        let cached = try request(
            #"{"model":"auto","max_tokens":5,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}"#
        )
        #expect(
            throws: MessagesTranslation.Failure(
                message: "system[0]: unsupported field 'cache_control' on a text block: it may hold 'text' and 'type'")
        ) { _ = try MessagesTranslation.messages(cached) }
        let tool = try request(
            #"{"model":"auto","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{},"cache_control":{"type":"ephemeral"}}]}"#
        )
        #expect(throws: MessagesTranslation.Failure.self) { _ = try MessagesTranslation.params(tool) }
        let nulls = try request(
            #"{"model":"auto","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"hi","citations":null}]}]}"#)
        #expect(try MessagesTranslation.messages(nulls).first?.text == "hi")
    }
}
