import JobProtocol
import Testing

@testable import Gateway

/// The checks made before anything is enqueued: each failure names the field and what is
/// allowed (docs/GATEWAY.md, "Request validation").
@Suite struct RequestValidatorTests {
    let validator = RequestValidator(maxTokensLimit: 32_768)

    func failure(_ check: (RequestValidator) throws -> Void) -> String? {
        do {
            try check(validator)
            return nil
        } catch {
            return (error as? RequestValidator.Failure)?.message ?? "unexpected \(error)"
        }
    }

    func part(_ fields: [String: JSONValue]) -> JSONValue { .object(fields) }

    @Test func conversationsNeedAUserMessageAndKnownRoles() {
        #expect(failure { try $0.check(messages: [ChatMessage(role: "user", content: "hi")]) } == nil)
        #expect(
            failure {
                try $0.check(messages: [
                    ChatMessage(role: "system", content: "s"), ChatMessage(role: "assistant", content: "a"), ChatMessage(role: "user", content: "u"),
                ])
            } == nil)
        #expect(failure { try $0.check(messages: []) } == "messages is empty; send at least one user message")
        #expect(
            failure { try $0.check(messages: [ChatMessage(role: "system", content: "s")]) }
                == "messages has no user message; send at least one message with role 'user'")
        #expect(
            failure { try $0.check(messages: [ChatMessage(role: "user", content: "u"), ChatMessage(role: "robot", content: "r")]) }
                == "messages[1].role must be system, user, assistant or tool, got 'robot'")
        let tool = failure { try $0.check(messages: [ChatMessage(role: "user", content: "u"), ChatMessage(role: "tool", content: "t")]) }
        #expect(tool == "messages[1]: a tool message needs tool_call_id, the id of the call it answers")
    }

    static func call(_ id: String = "call_1", name: String = "weather") -> ToolCall {
        ToolCall(id: id, name: name, arguments: #"{"city":"Paris"}"#)
    }

    @Test func anAgentLoopPasses() {
        let loop = [
            ChatMessage(role: "user", content: "Weather in Paris?"),
            ChatMessage(role: "assistant", content: nil, toolCalls: [Self.call("call_1"), Self.call("call_2")]),
            ChatMessage(role: "tool", content: .text("18 C"), toolCallID: "call_1"),
            ChatMessage(role: "tool", content: .text("sunny"), toolCallID: "call_2"),
        ]
        #expect(failure { try $0.check(messages: loop) } == nil)
    }

    @Test(arguments: [
        (
            [ChatMessage(role: "user", content: "u"), ChatMessage(role: "tool", content: .text("t"), toolCallID: "call_9")],
            "messages[1].tool_call_id 'call_9' answers no tool call of an earlier assistant message"
        ),
        (
            [ChatMessage(role: "user", content: "u", ), ChatMessage(role: "user", content: .text("x"), toolCalls: [call()])],
            "messages[1]: only an assistant message may have tool_calls"
        ),
        (
            [ChatMessage(role: "user", content: "u"), ChatMessage(role: "assistant", content: nil, toolCalls: [])],
            "messages[1].tool_calls is empty; leave it out instead"
        ),
        (
            [ChatMessage(role: "user", content: "u"), ChatMessage(role: "assistant", content: nil, toolCalls: [call(name: "get weather")])],
            "messages[1].tool_calls[0].function.name must be 1 to 64 letters, digits, underscores or dashes"
        ),
        (
            [ChatMessage(role: "user", content: "u"), ChatMessage(role: "assistant", content: nil)],
            "messages[1].content is missing; only an assistant message with tool_calls may leave it null"
        ),
        (
            [ChatMessage(role: "user", content: .text("u"), toolCallID: "call_1")],
            "messages[0]: only a tool message may have tool_call_id"
        ),
    ])
    func badToolMessagesAreNamed(messages: [ChatMessage], expected: String) {
        #expect(failure { try $0.check(messages: messages) } == expected)
    }

    static func tool(_ name: String, parameters: JSONValue? = .object(["type": .string("object")])) -> JSONValue {
        var function: [String: JSONValue] = ["name": .string(name)]
        function["parameters"] = parameters
        return .object(["type": .string("function"), "function": .object(function)])
    }

    @Test func toolsToolChoiceAndResponseFormatAreChecked() {
        let tools = [Self.tool("weather"), Self.tool("search", parameters: nil)]
        let named: JSONValue = .object(["type": .string("function"), "function": .object(["name": .string("weather")])])
        for choice in [nil, .string("auto"), .string("none"), .string("required"), named] as [JSONValue?] {
            #expect(failure { try $0.check(tools: tools, toolChoice: choice, responseFormat: nil) } == nil)
        }
        let schema: JSONValue = .object(["type": .string("json_schema"), "json_schema": .object(["name": .string("a"), "schema": .object([:])])])
        for format in [.object(["type": .string("text")]), .object(["type": .string("json_object")]), schema] as [JSONValue] {
            #expect(failure { try $0.check(tools: nil, toolChoice: nil, responseFormat: format) } == nil)
        }
        let cases: [([JSONValue]?, JSONValue?, JSONValue?, String)] = [
            ([], nil, nil, "tools is empty; leave it out instead"),
            ([.string("weather")], nil, nil, #"tools[0] must be {"type": "function", "function": {"name": …, "parameters": {…}}}"#),
            ([Self.tool("")], nil, nil, "tools[0].function.name must be 1 to 64 letters, digits, underscores or dashes"),
            ([Self.tool("a"), Self.tool("a")], nil, nil, "tools[1].function.name 'a' is given twice"),
            ([Self.tool("a", parameters: .string("x"))], nil, nil, "tools[0].function.parameters must be a JSON Schema object"),
            (tools, .string("always"), nil, #"tool_choice must be auto, none, required or {"type": "function", "function": {"name": …}}"#),
            (
                tools, .object(["type": .string("function"), "function": .object(["name": .string("other")])]), nil,
                "tool_choice names 'other', which is not in tools"
            ),
            (nil, .string("auto"), nil, "tool_choice needs tools"),
            (nil, nil, .object(["type": .string("xml")]), "response_format.type must be text, json_object or json_schema"),
            (nil, nil, .object(["type": .string("json_schema")]), "response_format json_schema needs json_schema.schema, a JSON Schema object"),
        ]
        for (tools, choice, format, expected) in cases {
            #expect(failure { try $0.check(tools: tools, toolChoice: choice, responseFormat: format) } == expected)
        }
    }

    @Test func aLongRoleIsQuotedShort() {
        let message = failure { try $0.check(messages: [ChatMessage(role: String(repeating: "x", count: 500), content: "r")]) }
        #expect(message == "messages[0].role must be system, user, assistant or tool, got '\(String(repeating: "x", count: 40))…'")
    }

    @Test func contentPartsAreTextOrImageURLs() {
        let text = part(["type": .string("text"), "text": .string("hello")])
        let image = part(["type": .string("image_url"), "image_url": .object(["url": .string("https://example.com/a.png")])])
        #expect(failure { try $0.check(messages: [ChatMessage(role: "user", content: .parts([text, image]))]) } == nil)
        #expect(
            failure { try $0.check(messages: [ChatMessage(role: "user", content: .parts([]))]) }
                == "messages[0].content is an empty list; send a string or at least one part")
        #expect(
            failure { try $0.check(messages: [ChatMessage(role: "user", content: .parts([text, part(["type": .string("text")])]))]) }
                == "messages[0].content[1]: a text part needs a string 'text'")
        #expect(
            failure {
                try $0.check(messages: [
                    ChatMessage(role: "user", content: .parts([part(["type": .string("image_url"), "image_url": .string("x")])]))
                ])
            } == "messages[0].content[0]: an image_url part needs 'image_url': {'url': '<https or data URL>'}")
        #expect(
            failure { try $0.check(messages: [ChatMessage(role: "user", content: .parts([part(["type": .string("audio")])]))]) }
                == "messages[0].content[0]: part type 'audio' is not supported; use text or image_url")
        #expect(
            failure { try $0.check(messages: [ChatMessage(role: "user", content: .parts([.string("hi")]))]) }
                == "messages[0].content[0]: each content part must be an object with a string 'type' (text or image_url)")
    }

    @Test func generationParametersStayInTheirRanges() {
        #expect(failure { try $0.check(params: GenerationParameters(maxTokens: 1, temperature: 0, topP: 1, stop: ["\n"])) } == nil)
        #expect(failure { try $0.check(params: GenerationParameters(maxTokens: 32_768, temperature: 2)) } == nil)
        #expect(failure { try $0.check(params: GenerationParameters(maxTokens: 0)) } == "max_tokens must be between 1 and 32768, got 0")
        #expect(
            failure { try $0.check(params: GenerationParameters(maxTokens: 32_769), maxTokensField: "max_completion_tokens") }
                == "max_completion_tokens must be between 1 and 32768, got 32769")
        #expect(failure { try $0.check(params: GenerationParameters(temperature: 2.5)) } == "temperature must be between 0 and 2, got 2.5")
        #expect(failure { try $0.check(params: GenerationParameters(temperature: .nan)) } != nil)
        #expect(failure { try $0.check(params: GenerationParameters(topP: 0)) } == "top_p must be more than 0 and at most 1, got 0.0")
        #expect(failure { try $0.check(params: GenerationParameters(stop: [""])) } == "stop must be at most 16 non-empty strings")
        #expect(
            failure { try $0.check(params: GenerationParameters(stop: Array(repeating: "x", count: 17))) }
                == "stop must be at most 16 non-empty strings")
    }

    @Test func anAsyncJobsTimeoutIsAtMostADay() {
        #expect(failure { try $0.check(timeoutSeconds: 86_400) } == nil)
        #expect(failure { try $0.check(timeoutSeconds: 0.5) } == nil)
        #expect(failure { try $0.check(timeoutSeconds: 0) } == "timeout_seconds must be more than 0 and at most 86400, got 0.0")
        #expect(failure { try $0.check(timeoutSeconds: 86_401) } != nil)
        #expect(failure { try $0.check(timeoutSeconds: .infinity) } != nil)
    }

    @Test func freeFormJSONHoldsOnlyFiniteNumbers() {
        let fine: JSONValue = .object(["a": .array([.number(1.5), .integer(3), .string("x"), .null])])
        #expect(failure { try $0.check(free: fine, at: "context") } == nil)
        let nested: JSONValue = .object(["a": .array([.number(1), .object(["b": .number(.infinity)])])])
        #expect(failure { try $0.check(free: nested, at: "metadata") } == "metadata.a[1].b holds a number that is not finite")
    }
}
