/// One chat message: `{"role":"user","content":"..."}`.
///
/// `content` is a string, or an array of typed parts as in OpenAI's and Anthropic's formats
/// (`{"type":"text","text":...}`, `{"type":"image_url",...}`); parts other than text mark a
/// multimodal request.
public struct ChatMessage: Codable, Sendable, Equatable, Hashable {
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
    public var content: Content

    public init(role: String, content: String) {
        self.role = role
        self.content = .text(content)
    }

    public init(role: String, content: Content) {
        self.role = role
        self.content = content
    }

    /// The text of the message: the string, or its text parts joined by newlines.
    public var text: String {
        switch content {
        case .text(let text): return text
        case .parts(let parts):
            return parts.compactMap { part -> String? in
                guard case .object(let fields) = part, fields["type"]?.stringValue == "text" else { return nil }
                return fields["text"]?.stringValue
            }.joined(separator: "\n")
        }
    }

    /// True when the message carries any part that is not text (an image, audio, a file).
    public var hasNonTextParts: Bool {
        guard case .parts(let parts) = content else { return false }
        return parts.contains { part in
            guard case .object(let fields) = part else { return true }
            return fields["type"]?.stringValue != "text"
        }
    }
}
