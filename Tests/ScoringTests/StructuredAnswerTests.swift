import JobProtocol
import Scoring
import Testing

/// The structure a job asks of its answer, checked before a small model's answer is accepted.
@Suite struct StructuredAnswerTests {
    static func tool(_ name: String) -> JSONValue {
        .object(["type": .string("function"), "function": .object(["name": .string(name), "parameters": .object(["type": .string("object")])])])
    }
    static let tools = GenerationParameters(tools: [tool("weather"), tool("search")])
    static func call(_ name: String, _ arguments: String = #"{"city":"Paris"}"#) -> [ToolCall] {
        [ToolCall(id: "call_1", name: name, arguments: arguments)]
    }

    @Test func aCallToAnOfferedToolWithObjectArgumentsHolds() {
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call("weather"), params: Self.tools) == nil)
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call("search", " { } "), params: Self.tools) == nil)
    }

    @Test(arguments: [
        ("unknown", #"{"city":"Paris"}"#, "unknown_tool"),
        ("", "{}", "unknown_tool"),
        ("weather", #"{"city": "Par"#, "invalid_tool_call"),
        ("weather", "[1,2]", "invalid_tool_call"),
        ("weather", "\"Paris\"", "invalid_tool_call"),
        ("weather", "", "invalid_tool_call"),
    ])
    func badCallsAreNamed(name: String, arguments: String, reason: String) {
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call(name, arguments), params: Self.tools) == reason)
    }

    @Test func aCallWithoutToolsOfferedIsAnUnknownTool() {
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call("weather"), params: .init()) == "unknown_tool")
    }

    @Test func aRequiredOrNamedChoiceNeedsItsCall() {
        var required = Self.tools
        required.toolChoice = .string("required")
        #expect(StructuredAnswer.problem(text: "It is sunny.", toolCalls: nil, params: required) == "invalid_tool_call")
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call("search"), params: required) == nil)
        var named = Self.tools
        named.toolChoice = .object(["type": .string("function"), "function": .object(["name": .string("weather")])])
        #expect(StructuredAnswer.problem(text: "It is sunny.", toolCalls: nil, params: named) == "invalid_tool_call")
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call("search"), params: named) == "invalid_tool_call")
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call("weather"), params: named) == nil)
        var auto = Self.tools
        auto.toolChoice = .string("auto")
        #expect(StructuredAnswer.problem(text: "It is sunny.", toolCalls: nil, params: auto) == nil)
    }

    @Test func jsonResponseFormatsNeedAnObject() {
        for type in ["json_object", "json_schema"] {
            let params = GenerationParameters(responseFormat: .object(["type": .string(type)]))
            #expect(StructuredAnswer.problem(text: #" {"answer": 42} "#, toolCalls: nil, params: params) == nil)
            #expect(StructuredAnswer.problem(text: "The answer is 42.", toolCalls: nil, params: params) == "schema_mismatch")
            #expect(StructuredAnswer.problem(text: "[42]", toolCalls: nil, params: params) == "schema_mismatch")
        }
        let text = GenerationParameters(responseFormat: .object(["type": .string("text")]))
        #expect(StructuredAnswer.problem(text: "plain", toolCalls: nil, params: text) == nil)
        #expect(StructuredAnswer.problem(text: "plain", toolCalls: nil, params: .init()) == nil)
    }

    @Test func argumentsAndAnswersAreValidatedAgainstTheirSchemas() {
        let schema: JSONValue = .object([
            "type": .string("object"), "properties": .object(["city": .object(["type": .string("string")])]),
            "required": .array([.string("city")]), "additionalProperties": .bool(false),
        ])
        let tool: JSONValue = .object(["type": .string("function"), "function": .object(["name": .string("weather"), "parameters": schema])])
        let params = GenerationParameters(tools: [tool])
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call("weather", #"{"city":"Paris"}"#), params: params) == nil)
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call("weather", #"{"days":2}"#), params: params) == "schema_mismatch")
        #expect(StructuredAnswer.problem(text: "", toolCalls: Self.call("weather", #"{"city":7}"#), params: params) == "schema_mismatch")
        let format = GenerationParameters(
            responseFormat: .object(["type": .string("json_schema"), "json_schema": .object(["name": .string("w"), "schema": schema])]))
        #expect(StructuredAnswer.problem(text: #"{"city":"Rome"}"#, toolCalls: nil, params: format) == nil)
        #expect(StructuredAnswer.problem(text: #"{"city":"Rome","extra":1}"#, toolCalls: nil, params: format) == "schema_mismatch")
    }
}
