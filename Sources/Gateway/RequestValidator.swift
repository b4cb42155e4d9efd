import JobProtocol

/// Checks what a client asks for before anything is enqueued, so that a request the providers
/// would refuse costs neither a tier-1 call nor a paid Claude call before its 502.
///
/// Every failure says which field is wrong and what is allowed (`messages[1].content[0]: …`,
/// `max_tokens must be between 1 and 32768, got 0`); the gateway answers it with 400
/// `invalid_request`.
struct RequestValidator {
    struct Failure: Error, Equatable {
        var message: String
    }

    /// `gateway.max_tokens_limit`.
    let maxTokensLimit: Int

    static let roles: Set<String> = ["system", "user", "assistant", "tool"]
    static let partTypes = ["text", "image_url"]

    /// Roles, content parts, tool calls and results, at least one user message.
    ///
    /// An assistant message may carry `tool_calls` (then its content may be null); a `tool`
    /// message answers one of the calls made before it, by `tool_call_id`.
    func check(messages: [ChatMessage], field: String = "messages") throws(Failure) {
        guard !messages.isEmpty else { throw Failure(message: "\(field) is empty; send at least one user message") }
        var calls: Set<String> = []
        for (index, message) in messages.enumerated() {
            let at = "\(field)[\(index)]"
            guard Self.roles.contains(message.role) else {
                throw Failure(message: "\(at).role must be system, user, assistant or tool, got '\(Self.excerpt(message.role))'")
            }
            if let toolCalls = message.toolCalls {
                guard message.role == "assistant" else { throw Failure(message: "\(at): only an assistant message may have tool_calls") }
                guard !toolCalls.isEmpty else { throw Failure(message: "\(at).tool_calls is empty; leave it out instead") }
                for (number, call) in toolCalls.enumerated() {
                    let callAt = "\(at).tool_calls[\(number)]"
                    guard call.type == "function" else { throw Failure(message: "\(callAt).type must be 'function'") }
                    guard !call.id.isEmpty, call.id.utf8.count <= 256 else { throw Failure(message: "\(callAt).id must be 1 to 256 bytes") }
                    guard Self.isToolName(call.name) else { throw Failure(message: "\(callAt).function.name \(Self.toolNameRule)") }
                    calls.insert(call.id)
                }
            }
            switch message.role {
            case "tool":
                guard let id = message.toolCallID else {
                    throw Failure(message: "\(at): a tool message needs tool_call_id, the id of the call it answers")
                }
                guard calls.contains(id) else {
                    throw Failure(message: "\(at).tool_call_id '\(Self.excerpt(id))' answers no tool call of an earlier assistant message")
                }
            default:
                if message.toolCallID != nil { throw Failure(message: "\(at): only a tool message may have tool_call_id") }
            }
            switch message.content {
            case nil:
                guard message.role == "assistant", message.toolCalls != nil else {
                    throw Failure(message: "\(at).content is missing; only an assistant message with tool_calls may leave it null")
                }
            case .parts(let parts)?:
                try check(parts: parts, at: "\(at).content")
            case .text?:
                break
            }
        }
        guard messages.contains(where: { $0.role == "user" }) else {
            throw Failure(message: "\(field) has no user message; send at least one message with role 'user'")
        }
    }

    static let toolNameRule = "must be 1 to 64 letters, digits, underscores or dashes"

    /// OpenAI's rule for function names, which Anthropic's tool names share.
    static func isToolName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
            }
    }

    /// `tools`, `tool_choice` and `response_format` in OpenAI's shapes.
    func check(tools: [JSONValue]?, toolChoice: JSONValue?, responseFormat: JSONValue?) throws(Failure) {
        var names: Set<String> = []
        for (index, tool) in (tools ?? []).enumerated() {
            let at = "tools[\(index)]"
            guard tool["type"]?.stringValue == "function", case .object(let function)? = tool["function"] else {
                throw Failure(message: "\(at) must be {\"type\": \"function\", \"function\": {\"name\": …, \"parameters\": {…}}}")
            }
            guard let name = function["name"]?.stringValue, Self.isToolName(name) else {
                throw Failure(message: "\(at).function.name \(Self.toolNameRule)")
            }
            guard names.insert(name).inserted else { throw Failure(message: "\(at).function.name '\(name)' is given twice") }
            if let parameters = function["parameters"], case .object = parameters {
            } else if function["parameters"] != nil {
                throw Failure(message: "\(at).function.parameters must be a JSON Schema object")
            }
            try check(free: tool, at: at)
        }
        if let tools, tools.isEmpty { throw Failure(message: "tools is empty; leave it out instead") }
        if let toolChoice {
            switch toolChoice {
            case .string("auto"), .string("none"), .string("required"):
                break
            default:
                guard toolChoice["type"]?.stringValue == "function", let name = toolChoice["function"]?["name"]?.stringValue else {
                    throw Failure(message: "tool_choice must be auto, none, required or {\"type\": \"function\", \"function\": {\"name\": …}}")
                }
                guard names.contains(name) else { throw Failure(message: "tool_choice names '\(Self.excerpt(name))', which is not in tools") }
            }
            guard tools != nil else { throw Failure(message: "tool_choice needs tools") }
        }
        if let responseFormat {
            switch responseFormat["type"]?.stringValue {
            case "text"?, "json_object"?:
                break
            case "json_schema"?:
                guard case .object? = responseFormat["json_schema"]?["schema"] else {
                    throw Failure(message: "response_format json_schema needs json_schema.schema, a JSON Schema object")
                }
                try check(free: responseFormat, at: "response_format")
            default:
                throw Failure(message: "response_format.type must be text, json_object or json_schema")
            }
        }
    }

    /// Each part an object with a string `type`: `text` with a string `text`, `image_url` with
    /// `image_url.url` a string.
    func check(parts: [JSONValue], at field: String) throws(Failure) {
        guard !parts.isEmpty else { throw Failure(message: "\(field) is an empty list; send a string or at least one part") }
        for (index, part) in parts.enumerated() {
            let at = "\(field)[\(index)]"
            guard case .object(let fields) = part, let type = fields["type"]?.stringValue else {
                throw Failure(message: "\(at): each content part must be an object with a string 'type' (text or image_url)")
            }
            switch type {
            case "text":
                guard fields["text"]?.stringValue != nil else { throw Failure(message: "\(at): a text part needs a string 'text'") }
            case "image_url":
                guard fields["image_url"]?["url"]?.stringValue != nil else {
                    throw Failure(message: "\(at): an image_url part needs 'image_url': {'url': '<https or data URL>'}")
                }
            default:
                throw Failure(message: "\(at): part type '\(Self.excerpt(type))' is not supported; use \(Self.partTypes.joined(separator: " or "))")
            }
        }
    }

    /// max_tokens in 1…limit, temperature in [0, 2], top_p in (0, 1], each when given.
    func check(params: GenerationParameters, maxTokensField: String = "max_tokens") throws(Failure) {
        if let maxTokens = params.maxTokens, !(1...maxTokensLimit).contains(maxTokens) {
            throw Failure(message: "\(maxTokensField) must be between 1 and \(maxTokensLimit), got \(maxTokens)")
        }
        if let temperature = params.temperature, !(temperature.isFinite && (0...2).contains(temperature)) {
            throw Failure(message: "temperature must be between 0 and 2, got \(temperature)")
        }
        if let topP = params.topP, !(topP.isFinite && topP > 0 && topP <= 1) {
            throw Failure(message: "top_p must be more than 0 and at most 1, got \(topP)")
        }
        if let stop = params.stop {
            guard stop.count <= 16, stop.allSatisfy({ !$0.isEmpty }) else {
                throw Failure(message: "stop must be at most 16 non-empty strings")
            }
        }
    }

    /// A job's own timeout: finite, more than 0, at most a day.
    func check(timeoutSeconds: Double, field: String = "timeout_seconds") throws(Failure) {
        guard timeoutSeconds.isFinite, timeoutSeconds > 0, timeoutSeconds <= 86_400 else {
            throw Failure(message: "\(field) must be more than 0 and at most 86400, got \(timeoutSeconds)")
        }
    }

    /// Free-form JSON (`context`, `metadata`): every number finite, so that no infinity or NaN
    /// reaches a job's JSON.
    func check(free value: JSONValue, at field: String) throws(Failure) {
        switch value {
        case .number(let number) where !number.isFinite:
            throw Failure(message: "\(field) holds a number that is not finite")
        case .array(let elements):
            for (index, element) in elements.enumerated() { try check(free: element, at: "\(field)[\(index)]") }
        case .object(let fields):
            for (key, element) in fields { try check(free: element, at: "\(field).\(Self.excerpt(key))") }
        default:
            break
        }
    }

    /// A client's string quoted in a message, cut short.
    static func excerpt(_ text: String) -> String {
        text.count <= 40 ? text : String(text.prefix(40)) + "…"
    }
}
