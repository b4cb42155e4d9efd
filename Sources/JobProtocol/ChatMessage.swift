import Foundation

/// One chat message: `{"role":"user","content":"..."}`, in OpenAI's shape.
///
/// `content` is a string, or an array of typed parts as in OpenAI's and Anthropic's formats
/// (`{"type":"text","text":...}`, `{"type":"image_url",...}`); parts other than text mark a
/// multimodal request. It is null (nil) on an assistant message that only calls tools.
/// An assistant message may carry `tool_calls`, a `tool` message the `tool_call_id` it answers,
/// and any message a participant `name`. Each of these is written only when present, so a
/// plain message stays `{"role":…,"content":…}`.
public struct ChatMessage: Sendable, Equatable, Hashable {
    public enum Content: Codable, Sendable, Equatable, Hashable {
        case text(String)
        case parts([JSONValue])

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .parts(try container.decode([JSONValue].self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .parts(let parts): try container.encode(parts)
            }
        }
    }

    public var role: String
    public var content: Content?
    public var name: String?
    public var toolCalls: [ToolCall]?
    public var toolCallID: String?

    public init(role: String, content: String) {
        self.role = role
        self.content = .text(content)
    }

    public init(role: String, content: Content?, name: String? = nil, toolCalls: [ToolCall]? = nil, toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.name = name
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    /// The text of the message: the string, or its text parts joined by newlines.
    public var text: String {
        switch content {
        case nil: return ""
        case .text(let text)?: return text
        case .parts(let parts)?:
            return parts.compactMap { part -> String? in
                guard case .object(let fields) = part, fields["type"]?.stringValue == "text" else { return nil }
                return fields["text"]?.stringValue
            }.joined(separator: "\n")
        }
    }

    /// True when the message carries any part that is not text (an image, audio, a file).
    public var hasNonTextParts: Bool {
        guard case .parts(let parts)? = content else { return false }
        return parts.contains { part in
            guard case .object(let fields) = part else { return true }
            return fields["type"]?.stringValue != "text"
        }
    }
}

extension ChatMessage: Codable {
    enum CodingKeys: String, CodingKey {
        case role, content, name
        case toolCalls = "tool_calls"
        case toolCallID = "tool_call_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decode(String.self, forKey: .role)
        content = try c.decodeIfPresent(Content.self, forKey: .content)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        toolCalls = try c.decodeIfPresent([ToolCall].self, forKey: .toolCalls)
        toolCallID = try c.decodeIfPresent(String.self, forKey: .toolCallID)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(role, forKey: .role)
        try c.encode(content, forKey: .content)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encodeIfPresent(toolCalls, forKey: .toolCalls)
        try c.encodeIfPresent(toolCallID, forKey: .toolCallID)
    }
}

extension ChatMessage {
    /// The report's ChatRequest `context` as system messages: its `system` string as itself,
    /// anything else as one `Context: <JSON>` message (keys sorted). Used by `/api/chat` and by
    /// `cervella batch`'s JSONL lines.
    public static func context(_ context: [String: JSONValue]?) -> [ChatMessage] {
        guard var context, !context.isEmpty else { return [] }
        var messages: [ChatMessage] = []
        if case .string(let system)? = context.removeValue(forKey: "system") {
            messages.append(ChatMessage(role: "system", content: system))
        }
        if !context.isEmpty {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let text = (try? encoder.encode(context)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            messages.append(ChatMessage(role: "system", content: "Context: \(text)"))
        }
        return messages
    }
}
