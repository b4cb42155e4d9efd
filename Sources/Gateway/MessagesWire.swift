import JobProtocol

/// Anthropic's Messages API request, as much of it as Cervella honours (`POST /v1/messages`).
struct MessagesRequest: Decodable {
    struct Message: Decodable {
        var role: String
        /// A string, or a list of blocks (text, image, tool_use, tool_result).
        var content: ChatMessage.Content
    }
    /// `system`: a string, or a list of text blocks.
    var system: ChatMessage.Content?
    var model: String
    var maxTokens: Int
    var messages: [Message]
    var temperature: Double?
    var topP: Double?
    var stopSequences: [String]?
    var tools: [JSONValue]?
    var toolChoice: JSONValue?
    var stream: Bool?

    enum CodingKeys: String, CodingKey {
        case system, model, messages, temperature, tools, stream
        case maxTokens = "max_tokens", topP = "top_p", stopSequences = "stop_sequences", toolChoice = "tool_choice"
    }
}

extension MessagesRequest: HonouredFields {
    static let honoured: Set<String> = [
        "model", "max_tokens", "system", "messages", "temperature", "top_p", "stop_sequences", "tools", "tool_choice", "stream",
    ]
    static let messageFields: Set<String>? = ["role", "content"]
}

/// `/v1/messages` to a job and back: the inverse of the Claude provider's translation
/// (`Providers/AnthropicWire.swift`), so that a request from the Anthropic SDK runs on any
/// tier and its answer reads as Claude's would.
///
/// In: `system` becomes a system message; `tool_use` blocks an assistant's `tool_calls`
/// (input written as the arguments' JSON text); `tool_result` blocks `tool` messages, one per
/// result, before the rest of their user turn (an `is_error` result's text starts "Error: ",
/// as OpenAI has no flag for it); image blocks `image_url` parts (base64 as a data URL);
/// tools' `input_schema` becomes `parameters`; `tool_choice` auto / any / tool / none becomes
/// auto / required / a named function / none, and `disable_parallel_tool_use` becomes
/// `parallel_tool_calls: false`. Out: the answer's text and tool calls as `text` and
/// `tool_use` blocks (the same ids), `finish_reason` as `stop_reason`.
enum MessagesTranslation {
    struct Failure: Error, Equatable {
        var message: String
    }

    /// The keys each block type may hold; another (`cache_control`, `citations`, …) asks for
    /// something the pool does not do, and is refused by name rather than dropped. A key sent
    /// as null counts as not sent.
    static let blockKeys: [String: Set<String>] = [
        "text": ["type", "text"], "image": ["type", "source"], "tool_use": ["type", "id", "name", "input"],
        "tool_result": ["type", "tool_use_id", "content", "is_error"],
    ]

    static func checkKeys(_ block: JSONValue, at: String) throws(Failure) {
        guard case .object(let fields) = block, let type = fields["type"]?.stringValue, let allowed = blockKeys[type] else { return }
        let extra = fields.filter { !allowed.contains($0.key) && $0.value != .null }.keys.sorted()
        guard extra.isEmpty else {
            throw Failure(
                message:
                    "\(at): unsupported field\(extra.count == 1 ? "" : "s") \(FieldCheck.list(extra)) on a \(type) block: it may hold \(FieldCheck.list(allowed.sorted(), limit: .max))"
            )
        }
    }

    static func messages(_ request: MessagesRequest) throws(Failure) -> [ChatMessage] {
        var messages: [ChatMessage] = []
        if let system = request.system {
            switch system {
            case .text(let text): messages.append(ChatMessage(role: "system", content: text))
            case .parts(let blocks):
                let texts = try blocks.enumerated().map { index, block throws(Failure) -> String in
                    guard block["type"]?.stringValue == "text", let text = block["text"]?.stringValue else {
                        throw Failure(message: "system[\(index)] must be a text block")
                    }
                    try checkKeys(block, at: "system[\(index)]")
                    return text
                }
                messages.append(ChatMessage(role: "system", content: texts.joined(separator: "\n\n")))
            }
        }
        for (index, message) in request.messages.enumerated() {
            let at = "messages[\(index)]"
            guard message.role == "user" || message.role == "assistant" else {
                throw Failure(message: "\(at).role must be user or assistant, got '\(RequestValidator.excerpt(message.role))'")
            }
            guard case .parts(let blocks) = message.content else {
                messages.append(ChatMessage(role: message.role, content: message.content))
                continue
            }
            var parts: [JSONValue] = []
            var calls: [ToolCall] = []
            for (number, block) in blocks.enumerated() {
                let blockAt = "\(at).content[\(number)]"
                try checkKeys(block, at: blockAt)
                switch block["type"]?.stringValue {
                case "text"?:
                    guard let text = block["text"]?.stringValue else { throw Failure(message: "\(blockAt): a text block needs a string 'text'") }
                    parts.append(.object(["type": .string("text"), "text": .string(text)]))
                case "image"?:
                    parts.append(try image(block, at: blockAt))
                case "tool_use"? where message.role == "assistant":
                    guard let id = block["id"]?.stringValue, let name = block["name"]?.stringValue, case .object? = block["input"] else {
                        throw Failure(message: "\(blockAt): a tool_use block needs a string 'id', a string 'name' and an object 'input'")
                    }
                    var writer = JSONWriter()
                    writer.value(block["input"]!)
                    calls.append(ToolCall(id: id, name: name, arguments: String(decoding: writer.bytes, as: UTF8.self)))
                case "tool_result"? where message.role == "user":
                    guard let id = block["tool_use_id"]?.stringValue else {
                        throw Failure(message: "\(blockAt): a tool_result block needs 'tool_use_id'")
                    }
                    var content = try toolResultContent(block["content"], at: blockAt)
                    if block["is_error"] == .bool(true) { content = errorMarked(content) }
                    messages.append(ChatMessage(role: "tool", content: content, toolCallID: id))
                case let type:
                    throw Failure(
                        message:
                            "\(blockAt): a \(message.role) block of type '\(RequestValidator.excerpt(type ?? "?"))' is not supported; send text, image, tool_use (assistant) or tool_result (user)"
                    )
                }
            }
            if message.role == "assistant" {
                let text = parts.compactMap { $0["text"]?.stringValue }.joined()
                messages.append(
                    ChatMessage(
                        role: "assistant", content: calls.isEmpty || !text.isEmpty ? .text(text) : nil, toolCalls: calls.isEmpty ? nil : calls))
            } else if !parts.isEmpty {
                messages.append(ChatMessage(role: "user", content: .parts(parts)))
            }
        }
        return messages
    }

    /// An Anthropic image block as an OpenAI `image_url` part.
    static func image(_ block: JSONValue, at: String) throws(Failure) -> JSONValue {
        let source = block["source"]
        let url: String
        switch source?["type"]?.stringValue {
        case "base64"?:
            guard let media = source?["media_type"]?.stringValue, let data = source?["data"]?.stringValue else {
                throw Failure(message: "\(at): a base64 image needs source.media_type and source.data")
            }
            url = "data:\(media);base64,\(data)"
        case "url"?:
            guard let given = source?["url"]?.stringValue else { throw Failure(message: "\(at): a url image needs source.url") }
            url = given
        default:
            throw Failure(message: "\(at): an image's source.type must be base64 or url")
        }
        return .object(["type": .string("image_url"), "image_url": .object(["url": .string(url)])])
    }

    static func toolResultContent(_ content: JSONValue?, at: String) throws(Failure) -> ChatMessage.Content {
        switch content {
        case nil, .null?: return .text("")
        case .string(let text)?: return .text(text)
        case .array(let blocks)?:
            return .parts(
                try blocks.enumerated().map { number, block throws(Failure) -> JSONValue in
                    switch block["type"]?.stringValue {
                    case "text"?:
                        try checkKeys(block, at: "\(at).content[\(number)]")
                        return .object(["type": .string("text"), "text": block["text"] ?? .string("")])
                    case "image"?: return try image(block, at: "\(at).content[\(number)]")
                    default: throw Failure(message: "\(at).content[\(number)]: a tool result holds text or image blocks")
                    }
                })
        default:
            throw Failure(message: "\(at).content must be a string or a list of blocks")
        }
    }

    static func errorMarked(_ content: ChatMessage.Content) -> ChatMessage.Content {
        switch content {
        case .text(let text): return .text("Error: " + text)
        case .parts(let parts): return .parts([.object(["type": .string("text"), "text": .string("Error:")])] + parts)
        }
    }

    /// The job's parameters: sampling, and the tools in OpenAI's shape.
    static func params(_ request: MessagesRequest) throws(Failure) -> GenerationParameters {
        var params = GenerationParameters(
            maxTokens: request.maxTokens, temperature: request.temperature, topP: request.topP, stop: request.stopSequences)
        if let tools = request.tools {
            params.tools = try tools.enumerated().map { index, tool throws(Failure) -> JSONValue in
                guard let name = tool["name"]?.stringValue else { throw Failure(message: "tools[\(index)] needs a string 'name'") }
                if case .object(let fields) = tool {
                    let extra = fields.filter { !["name", "description", "input_schema", "type"].contains($0.key) && $0.value != .null }.keys.sorted()
                    if !extra.isEmpty {
                        throw Failure(
                            message:
                                "tools[\(index)]: unsupported field\(extra.count == 1 ? "" : "s") \(FieldCheck.list(extra)): a tool may hold 'description', 'input_schema', 'name' and 'type'"
                        )
                    }
                }
                if let type = tool["type"]?.stringValue, type != "custom" {
                    throw Failure(
                        message:
                            "tools[\(index)]: Anthropic's server tool '\(RequestValidator.excerpt(type))' is not supported; define a tool with name, description and input_schema"
                    )
                }
                var function: [String: JSONValue] = [
                    "name": .string(name), "parameters": tool["input_schema"] ?? .object(["type": .string("object")]),
                ]
                if let description = tool["description"] { function["description"] = description }
                return .object(["type": .string("function"), "function": .object(function)])
            }
        }
        if let choice = request.toolChoice {
            switch choice["type"]?.stringValue {
            case "auto"?: params.toolChoice = .string("auto")
            case "any"?: params.toolChoice = .string("required")
            case "none"?: params.toolChoice = .string("none")
            case "tool"?:
                guard let name = choice["name"]?.stringValue else { throw Failure(message: "tool_choice of type tool needs a 'name'") }
                params.toolChoice = .object(["type": .string("function"), "function": .object(["name": .string(name)])])
            default:
                throw Failure(message: "tool_choice.type must be auto, any, tool or none")
            }
            if choice["disable_parallel_tool_use"] == .bool(true) { params.parallelToolCalls = false }
        }
        return params
    }

    /// OpenAI's `finish_reason` as Anthropic's `stop_reason`.
    static func stopReason(_ finishReason: String?) -> String {
        switch finishReason {
        case "length"?: return "max_tokens"
        case "tool_calls"?: return "tool_use"
        case "content_filter"?: return "refusal"
        default: return "end_turn"
        }
    }

    /// The Messages API response for an answer.
    static func body(id: String, result: JobResult, metadata: ResultMetadata) -> [UInt8] {
        GatewayResponse.written { w in
            w.object { w in
                w.key("id"); w.string("msg_\(id)")
                w.key("type"); w.string("message")
                w.key("role"); w.string("assistant")
                w.key("model"); w.string(metadata.modelUsed)
                w.key("content")
                var blocks: [JSONValue] = []
                if let text = result.response, !text.isEmpty || result.toolCalls == nil {
                    blocks.append(.object(["type": .string("text"), "text": .string(text)]))
                }
                for call in result.toolCalls ?? [] {
                    // A call whose arguments are not an object (kept when the fallback was off)
                    // is still returned, its text under `arguments`.
                    let parsed = JSONValue.read(Array(call.arguments.utf8))
                    let input: JSONValue = if case .object? = parsed { parsed! } else { .object(["arguments": .string(call.arguments)]) }
                    blocks.append(.object(["type": .string("tool_use"), "id": .string(call.id), "name": .string(call.name), "input": input]))
                }
                w.array(blocks) { $0.value($1) }
                w.key("stop_reason"); w.string(stopReason(result.finishReason))
                w.key("stop_sequence"); w.null()
                w.key("usage")
                w.object { w in
                    w.key("input_tokens"); w.int(metadata.tokensInput)
                    w.key("output_tokens"); w.int(metadata.tokensOutput)
                }
            }
        }
    }
}
