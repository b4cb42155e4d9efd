import JobProtocol

/// Translation between a job (OpenAI's shapes) and Anthropic's Messages API, both ways.
///
/// Requests: system messages become the top-level `system`; an assistant's `tool_calls`
/// become `tool_use` blocks (arguments parsed into `input`); `tool` messages become
/// `tool_result` blocks, consecutive ones merged into one user turn with any user text after
/// them, as Anthropic requires; `image_url` parts become image blocks (a `data:` URL as base64,
/// any other URL as a URL source); OpenAI `tools` become Anthropic tools with `input_schema`;
/// `tool_choice` auto / none / required / a named function becomes auto / none / any / tool;
/// `parallel_tool_calls: false` becomes `disable_parallel_tool_use`. A JSON `response_format`
/// becomes one forced tool whose input is the answer: Anthropic has no response format, and a
/// tool's `input_schema` is how it is made to write an object of a given shape. `seed` has no
/// Anthropic counterpart (OpenAI itself calls it best effort) and is not sent.
///
/// Replies: text blocks are the answer, `tool_use` blocks the tool calls (same ids, `input`
/// written back as JSON text), the forced answer tool's input the answer's text; `stop_reason`
/// becomes OpenAI's `finish_reason`.
enum AnthropicWire {
    /// The forced tool that carries a JSON `response_format` answer.
    static let answerTool = "json_answer"

    struct Failure: Error, Equatable {
        var message: String
    }

    /// The request body; `forcedAnswer` is true when the answer will come as `answerTool`'s input.
    static func body(model: String, request: ProviderRequest, stream: Bool = false) throws(Failure) -> (body: [UInt8], forcedAnswer: Bool) {
        let system = request.messages.filter { $0.role == "system" }.map(\.text).joined(separator: "\n\n")
        let turns = try self.turns(request.messages.filter { $0.role != "system" })
        var tools = try request.tools?.map(tool) ?? []
        var choice = try request.toolChoice.map(toolChoice)
        var forcedAnswer = false
        if let format = request.responseFormat, let schema = try answerSchema(format) {
            guard tools.isEmpty else {
                throw Failure(message: "response_format together with tools cannot be sent to Claude: send one or the other")
            }
            tools = [
                .object([
                    "name": .string(answerTool), "description": .string("Write the answer as this tool's input."), "input_schema": schema,
                ])
            ]
            choice = .object(["type": .string("tool"), "name": .string(answerTool)])
            forcedAnswer = true
        }
        if request.parallelToolCalls == false, !tools.isEmpty {
            var fields: [String: JSONValue] = [:]
            if case .object(let given)? = choice { fields = given } else { fields["type"] = .string("auto") }
            fields["disable_parallel_tool_use"] = .bool(true)
            choice = .object(fields)
        }
        var w = JSONWriter(capacity: 1024)
        w.object { w in
            w.key("model"); w.string(model)
            w.key("max_tokens"); w.int(request.maxTokens)
            if !system.isEmpty { w.key("system"); w.string(system) }
            w.key("messages"); w.array(turns) { $0.value($1) }
            if let temperature = request.temperature { w.key("temperature"); w.double(temperature) }
            if let topP = request.topP { w.key("top_p"); w.double(topP) }
            if let stop = request.stop { w.key("stop_sequences"); w.array(stop) { $0.string($1) } }
            if !tools.isEmpty { w.key("tools"); w.array(tools) { $0.value($1) } }
            if let choice { w.key("tool_choice"); w.value(choice) }
            if stream { w.key("stream"); w.bool(true) }
        }
        return (w.bytes, forcedAnswer)
    }

    /// The non-system messages as Anthropic turns.
    static func turns(_ messages: [ChatMessage]) throws(Failure) -> [JSONValue] {
        var turns: [JSONValue] = []
        /// Blocks of a user turn being built from tool results (and the user text after them).
        var pending: [JSONValue] = []
        func flush() {
            if !pending.isEmpty { turns.append(.object(["role": .string("user"), "content": .array(pending)])) }
            pending = []
        }
        for (index, message) in messages.enumerated() {
            if message.name != nil {
                throw Failure(message: "messages[\(index)].name cannot be sent to Claude: the Messages API has no participant names")
            }
            switch message.role {
            case "tool":
                guard let id = message.toolCallID else {
                    throw Failure(message: "messages[\(index)]: a tool message needs the tool_call_id of the call it answers")
                }
                var block: [String: JSONValue] = ["type": .string("tool_result"), "tool_use_id": .string(id)]
                if let content = message.content { block["content"] = try blocks(content, at: index) }
                pending.append(.object(block))
            case "user" where !pending.isEmpty:
                if let content = message.content { pending += try blockList(content, at: index) }
            case "assistant" where !(message.toolCalls ?? []).isEmpty:
                flush()
                var content: [JSONValue] = []
                if let text = message.content {
                    content += try blockList(text, at: index).filter { $0 != .object(["type": .string("text"), "text": .string("")]) }
                }
                for call in message.toolCalls ?? [] {
                    guard case .object? = JSONValue.read(Array(call.arguments.utf8)), let input = JSONValue.read(Array(call.arguments.utf8)) else {
                        throw Failure(message: "messages[\(index)]: the arguments of tool call '\(call.id)' are not a JSON object")
                    }
                    content.append(.object(["type": .string("tool_use"), "id": .string(call.id), "name": .string(call.name), "input": input]))
                }
                turns.append(.object(["role": .string("assistant"), "content": .array(content)]))
            default:
                flush()
                turns.append(
                    .object([
                        "role": .string(message.role),
                        "content": try message.content.map { c throws(Failure) in try blocks(c, at: index) } ?? .string(""),
                    ]))
            }
        }
        flush()
        return turns
    }

    /// Content as Anthropic takes it: a string as is, parts as blocks.
    static func blocks(_ content: ChatMessage.Content, at index: Int) throws(Failure) -> JSONValue {
        switch content {
        case .text(let text): return .string(text)
        case .parts: return .array(try blockList(content, at: index))
        }
    }

    static func blockList(_ content: ChatMessage.Content, at index: Int) throws(Failure) -> [JSONValue] {
        switch content {
        case .text(let text): return [.object(["type": .string("text"), "text": .string(text)])]
        case .parts(let parts): return try parts.map { part throws(Failure) in try block(part, at: index) }
        }
    }

    /// An OpenAI content part as an Anthropic block; a part already in Anthropic's shape passes.
    static func block(_ part: JSONValue, at index: Int) throws(Failure) -> JSONValue {
        guard part["type"]?.stringValue == "image_url" else { return part }
        guard let url = part["image_url"]?["url"]?.stringValue ?? part["image_url"]?.stringValue else {
            throw Failure(message: "messages[\(index)]: an image_url part needs image_url.url")
        }
        if url.hasPrefix("data:") {
            // data:<media type>;base64,<data>
            let header = url.dropFirst(5).prefix { $0 != "," }
            guard header.hasSuffix(";base64"), let comma = url.firstIndex(of: ",") else {
                throw Failure(message: "messages[\(index)]: a data URL image must be base64 (data:image/png;base64,...)")
            }
            let mediaType = String(header.dropLast(7))
            return .object([
                "type": .string("image"),
                "source": .object([
                    "type": .string("base64"), "media_type": .string(mediaType), "data": .string(String(url[url.index(after: comma)...])),
                ]),
            ])
        }
        return .object(["type": .string("image"), "source": .object(["type": .string("url"), "url": .string(url)])])
    }

    /// An OpenAI tool (`{"type":"function","function":{…}}`) as an Anthropic tool.
    static func tool(_ tool: JSONValue) throws(Failure) -> JSONValue {
        guard let function = tool["function"], let name = function["name"]?.stringValue else {
            throw Failure(message: "each tool must be {\"type\":\"function\",\"function\":{\"name\":…}}")
        }
        var fields: [String: JSONValue] = ["name": .string(name), "input_schema": function["parameters"] ?? .object(["type": .string("object")])]
        if let description = function["description"] { fields["description"] = description }
        return .object(fields)
    }

    static func toolChoice(_ choice: JSONValue) throws(Failure) -> JSONValue {
        switch choice {
        case .string("auto"): return .object(["type": .string("auto")])
        case .string("none"): return .object(["type": .string("none")])
        case .string("required"): return .object(["type": .string("any")])
        default:
            guard let name = choice["function"]?["name"]?.stringValue else {
                throw Failure(message: "tool_choice must be auto, none, required or {\"type\":\"function\",\"function\":{\"name\":…}}")
            }
            return .object(["type": .string("tool"), "name": .string(name)])
        }
    }

    /// The schema a JSON `response_format` asks for (any object for `json_object`); nil for `text`.
    static func answerSchema(_ format: JSONValue) throws(Failure) -> JSONValue? {
        switch format["type"]?.stringValue {
        case "text"?: return nil
        case "json_object"?: return .object(["type": .string("object")])
        case "json_schema"?:
            guard let schema = format["json_schema"]?["schema"] else {
                throw Failure(message: "response_format json_schema needs json_schema.schema")
            }
            return schema
        default:
            throw Failure(message: "response_format type must be text, json_object or json_schema")
        }
    }

    /// What a Messages API reply says, in OpenAI's terms.
    struct Answer: Equatable {
        var text: String
        var toolCalls: [ToolCall]?
        var finishReason: String?
    }

    /// The reply's content blocks and stop reason; `forcedAnswer`: the answer tool's input is the text.
    static func answer(blocks: [JSONValue], stopReason: String?, forcedAnswer: Bool) -> Answer {
        var text = ""
        var calls: [ToolCall] = []
        for block in blocks {
            switch block["type"]?.stringValue {
            case "text"?:
                text += block["text"]?.stringValue ?? ""
            case "tool_use"?:
                var writer = JSONWriter()
                writer.value(block["input"] ?? .object([:]))
                let arguments = String(decoding: writer.bytes, as: UTF8.self)
                let name = block["name"]?.stringValue ?? ""
                if forcedAnswer && name == answerTool {
                    text = arguments
                } else {
                    calls.append(
                        ToolCall(id: block["id"]?.stringValue ?? ToolCall.newID(index: calls.count), name: name, arguments: arguments))
                }
            default:
                break  // thinking, redacted_thinking
            }
        }
        var reason = finishReason(stopReason)
        if forcedAnswer && reason == "tool_calls" && calls.isEmpty { reason = "stop" }
        return Answer(text: text, toolCalls: calls.isEmpty ? nil : calls, finishReason: reason)
    }

    /// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
    static func finishReason(_ stopReason: String?) -> String? {
        switch stopReason {
        case nil: return nil
        case "end_turn"?, "stop_sequence"?, "pause_turn"?: return "stop"
        case "max_tokens"?: return "length"
        case "tool_use"?: return "tool_calls"
        case "refusal"?: return "content_filter"
        case let other?: return other
        }
    }
}
