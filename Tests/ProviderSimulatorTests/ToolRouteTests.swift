import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ProviderSimulator

/// Tool calls in both wire formats: the first (or named) tool is called with arguments made
/// from its schema until the conversation ends with a tool result; the `#sim` directives
/// give the failures the worker must catch.
@Suite("Simulated tool calls")
struct ToolRouteTests {
    static var weatherSchema: [String: Any] {
        [
            "type": "object",
            "properties": [
                "city": ["type": "string"], "days": ["type": "integer", "minimum": 1],
                "unit": ["type": "string", "enum": ["celsius", "fahrenheit"]],
            ],
            "required": ["city", "unit"],
        ]
    }
    static var openAITools: [[String: Any]] {
        [
            ["type": "function", "function": ["name": "weather", "parameters": weatherSchema]],
            ["type": "function", "function": ["name": "search", "parameters": ["type": "object", "properties": ["q": ["type": "string"]]]]],
        ]
    }
    static var anthropicTools: [[String: Any]] { [["name": "weather", "input_schema": weatherSchema]] }

    static func openAICall(_ body: [String: Any]) throws -> (call: [String: Any]?, finish: String?, content: Any?) {
        let choice = try #require((body["choices"] as? [[String: Any]])?.first)
        let message = try #require(choice["message"] as? [String: Any])
        return ((message["tool_calls"] as? [[String: Any]])?.first, choice["finish_reason"] as? String, message["content"])
    }

    @Test func openAIToolsAreCalledWithArgumentsFromTheSchema() async throws {
        try await Sim.withRouter { client in
            let response = try await Sim.chat(client, Sim.chatBody("Weather in Paris?", extra: ["tools": Self.openAITools]))
            let (call, finish, content) = try Self.openAICall(try Sim.json(response))
            #expect(finish == "tool_calls")
            #expect(content is NSNull)
            #expect((call?["id"] as? String)?.hasPrefix("chatcmpl-tool-") == true)
            let function = try #require(call?["function"] as? [String: Any])
            #expect(function["name"] as? String == "weather")
            let arguments = try #require((function["arguments"] as? String)?.data(using: .utf8))
            let parsed = try #require(try JSONSerialization.jsonObject(with: arguments) as? [String: Any])
            #expect(parsed["city"] as? String == "example")
            #expect(parsed["days"] as? Int == 1)
            #expect(parsed["unit"] as? String == "celsius")
        }
    }

    @Test func aNamedChoiceIsCalledAndAToolResultIsAnsweredWithText() async throws {
        try await Sim.withRouter { client in
            let named: [String: Any] = ["type": "function", "function": ["name": "search"]]
            let response = try await Sim.chat(client, Sim.chatBody("Find it", extra: ["tools": Self.openAITools, "tool_choice": named]))
            #expect((try Self.openAICall(try Sim.json(response)).call?["function"] as? [String: Any])?["name"] as? String == "search")

            let history: [[String: Any]] = [
                ["role": "user", "content": "Weather in Paris?"],
                [
                    "role": "assistant", "content": NSNull(),
                    "tool_calls": [["id": "call_1", "type": "function", "function": ["name": "weather", "arguments": "{}"]]],
                ],
                ["role": "tool", "tool_call_id": "call_1", "content": "18 C"],
            ]
            let body = Sim.body(["model": "qwen3-4b", "messages": history, "tools": Self.openAITools])
            let (call, finish, content) = try Self.openAICall(try Sim.json(try await Sim.chat(client, body)))
            #expect(call == nil)
            #expect(finish == "stop")
            #expect(((content as? String) ?? "").isEmpty == false)
        }
    }

    @Test func directivesGiveTheFailuresTheWorkerMustCatch() async throws {
        try await Sim.withRouter { client in
            let noTool = try await Sim.chat(client, Sim.chatBody("Weather?\n#sim notool", extra: ["tools": Self.openAITools]))
            #expect(try Self.openAICall(try Sim.json(noTool)).call == nil)

            let bad = try await Sim.chat(client, Sim.chatBody("Weather?\n#sim badtool", extra: ["tools": Self.openAITools]))
            let badArguments = try #require((try Self.openAICall(try Sim.json(bad)).call?["function"] as? [String: Any])?["arguments"] as? String)
            #expect((try? JSONSerialization.jsonObject(with: Data(badArguments.utf8))) == nil)

            let wrong = try await Sim.chat(client, Sim.chatBody("Weather?\n#sim wrongargs", extra: ["tools": Self.openAITools]))
            let wrongArguments = try #require((try Self.openAICall(try Sim.json(wrong)).call?["function"] as? [String: Any])?["arguments"] as? String)
            #expect(try JSONSerialization.jsonObject(with: Data(wrongArguments.utf8)) as? [String: Int] == ["days": 1])
        }
    }

    @Test func jsonResponseFormatsAreAnsweredWithAnObjectUnlessBadJSON() async throws {
        try await Sim.withRouter { client in
            let schema: [String: Any] = ["type": "object", "properties": ["answer": ["type": "integer"]], "required": ["answer"]]
            let format: [String: Any] = ["type": "json_schema", "json_schema": ["name": "a", "schema": schema]]
            let good = try await Sim.chat(client, Sim.chatBody("6 x 7?", extra: ["response_format": format]))
            #expect(try Sim.content(try Sim.json(good)) == #"{"answer":1}"#)
            let object = try await Sim.chat(client, Sim.chatBody("6 x 7?", extra: ["response_format": ["type": "json_object"]]))
            #expect((try JSONSerialization.jsonObject(with: Data(try Sim.content(try Sim.json(object)).utf8)) as? [String: Any])?["answer"] != nil)
            let bad = try await Sim.chat(client, Sim.chatBody("6 x 7?\n#sim badjson", extra: ["response_format": format]))
            #expect((try? JSONSerialization.jsonObject(with: Data(try Sim.content(try Sim.json(bad)).utf8))) == nil)
        }
    }

    @Test func anthropicToolsAreCalledWithToolUseBlocksUntilAToolResult() async throws {
        try await Sim.withRouter { client in
            let response = try await Sim.messages(client, Sim.messagesBody("Weather in Paris?", extra: ["tools": Self.anthropicTools]))
            let body = try Sim.json(response)
            #expect(body["stop_reason"] as? String == "tool_use")
            let block = try #require((body["content"] as? [[String: Any]])?.first)
            #expect(block["type"] as? String == "tool_use")
            #expect((block["id"] as? String)?.hasPrefix("toolu_01") == true)
            #expect(block["name"] as? String == "weather")
            #expect((block["input"] as? [String: Any])?["unit"] as? String == "celsius")

            let messages: [[String: Any]] = [
                ["role": "user", "content": "Weather in Paris?"],
                ["role": "assistant", "content": [["type": "tool_use", "id": "toolu_1", "name": "weather", "input": ["city": "Paris"]]]],
                ["role": "user", "content": [["type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"]]],
            ]
            let body2 = Sim.body(["model": "claude-sonnet-4-5", "max_tokens": 256, "messages": messages, "tools": Self.anthropicTools])
            let answer = try Sim.json(try await Sim.messages(client, body2))
            #expect(answer["stop_reason"] as? String == "end_turn")
            #expect((answer["content"] as? [[String: Any]])?.first?["type"] as? String == "text")

            let forced: [String: Any] = ["type": "tool", "name": "weather"]
            let named = try Sim.json(
                try await Sim.messages(client, Sim.messagesBody("Hi", extra: ["tools": Self.anthropicTools, "tool_choice": forced])))
            #expect(named["stop_reason"] as? String == "tool_use")
        }
    }
}
