import JobProtocol

/// What a job asks of its answer's structure, checked before a small model's answer is
/// accepted: the tool calls name tools the job offered and carry a JSON object of arguments
/// that validates against the tool's `parameters` schema, a required or named `tool_choice`
/// got its call, and a `response_format` of JSON got a JSON object (valid against its
/// `json_schema`). A failure is a fallback reason, like a low confidence: `unknown_tool`,
/// `invalid_tool_call` (not JSON, not an object, the wrong tool, no call), `schema_mismatch`.
public enum StructuredAnswer {
    /// The reason the answer does not hold, nil when it does or nothing was asked.
    public static func problem(text: String, toolCalls: [ToolCall]?, params: GenerationParameters) -> String? {
        let calls = toolCalls ?? []
        if !calls.isEmpty {
            var schemas: [String: JSONValue] = [:]
            for tool in params.tools ?? [] {
                if let name = tool["function"]?["name"]?.stringValue { schemas[name] = tool["function"]?["parameters"] ?? .bool(true) }
            }
            let named = params.toolChoice?["function"]?["name"]?.stringValue
            for call in calls {
                guard let schema = schemas[call.name] else { return "unknown_tool" }
                if let named, call.name != named { return "invalid_tool_call" }
                guard let arguments = JSONValue.read(Array(call.arguments.utf8)), case .object = arguments else { return "invalid_tool_call" }
                if JSONSchemaValidator(schema: schema).problem(with: arguments) != nil { return "schema_mismatch" }
            }
            return nil
        }
        if params.tools?.isEmpty == false, Self.requiresCall(params.toolChoice) { return "invalid_tool_call" }
        switch params.responseFormat?["type"]?.stringValue {
        case "json_object"?, "json_schema"?:
            guard let answer = JSONValue.read(Array(text.trimmedWhitespace.utf8)), case .object = answer else { return "schema_mismatch" }
            if let schema = params.responseFormat?["json_schema"]?["schema"], JSONSchemaValidator(schema: schema).problem(with: answer) != nil {
                return "schema_mismatch"
            }
            return nil
        default:
            return nil
        }
    }

    /// `required`, or a named function: the answer must be a call.
    static func requiresCall(_ choice: JSONValue?) -> Bool {
        switch choice {
        case .string("required")?: return true
        case .object?: return choice?["function"]?["name"]?.stringValue != nil
        default: return false
        }
    }
}
