import Foundation
import Hummingbird

/// Message content as both APIs send it: a plain string, `null`, or an array of blocks
/// of which only the text ones matter here (`{"type":"text","text":"…"}`).
///
/// Decoding it into one string lets the routes treat every message alike. Non-text
/// blocks (images, tool results) contribute nothing, as a text-only model would see them.
struct MessageContent: Decodable, Sendable {
    /// The concatenated text of the content, blocks joined by newlines.
    let text: String
    /// An Anthropic `tool_result` block is among the blocks.
    var hasToolResult = false

    private struct Block: Decodable {
        let type: String?
        let text: String?
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            text = ""
        } else if let string = try? container.decode(String.self) {
            text = string
        } else {
            let blocks = try container.decode([Block].self)
            text = blocks.compactMap { ($0.type ?? "text") == "text" ? $0.text : nil }.joined(separator: "\n")
            hasToolResult = blocks.contains { $0.type == "tool_result" }
        }
    }
}

/// One chat message of either API; unknown fields (name, tool_calls, …) are ignored.
struct ChatMessage: Decodable, Sendable {
    let role: String
    let content: MessageContent?

    /// The message text, empty when the content is missing.
    var text: String { content?.text ?? "" }

    /// A tool's result: OpenAI's `tool` message, or a user turn holding Anthropic `tool_result` blocks.
    var isToolResult: Bool { role == "tool" || (content?.hasToolResult ?? false) }
}

/// A tool as OpenAI declares it: `{"type":"function","function":{"name":…,"parameters":{…}}}`.
struct OpenAITool: Decodable, Sendable {
    struct Function: Decodable, Sendable {
        let name: String
        let parameters: RequestJSON?
    }
    let function: Function
}

/// A tool as Anthropic declares it: `{"name":…,"input_schema":{…}}`.
struct AnthropicTool: Decodable, Sendable {
    let name: String
    let inputSchema: RequestJSON?
    enum CodingKeys: String, CodingKey {
        case name
        case inputSchema = "input_schema"
    }
}

/// The fields of a vLLM `/v1/chat/completions` request that change the answer.
struct OpenAIChatRequest: Decodable, Sendable {
    let model: String?
    let messages: [ChatMessage]?
    let maxTokens: Int?
    let maxCompletionTokens: Int?
    let logprobs: Bool?
    let topLogprobs: Int?
    let temperature: Double?
    let tools: [OpenAITool]?
    let toolChoice: RequestJSON?
    let responseFormat: RequestJSON?
    let stream: Bool?
    let streamOptions: StreamOptions?

    /// `stream_options`; only `include_usage` changes the stream (`continuous_usage_stats`,
    /// a vLLM extension, is ignored like any other unknown field).
    struct StreamOptions: Decodable, Sendable {
        let includeUsage: Bool?
        enum CodingKeys: String, CodingKey {
            case includeUsage = "include_usage"
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, messages, logprobs, temperature, tools, stream
        case streamOptions = "stream_options"
        case toolChoice = "tool_choice"
        case responseFormat = "response_format"
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case topLogprobs = "top_logprobs"
    }
}

/// The fields of an Anthropic `/v1/messages` request that change the answer.
struct AnthropicMessagesRequest: Decodable, Sendable {
    let model: String?
    let maxTokens: Int?
    let system: MessageContent?
    let messages: [ChatMessage]?
    let temperature: Double?
    let tools: [AnthropicTool]?
    let toolChoice: RequestJSON?
    let stream: Bool?

    enum CodingKeys: String, CodingKey {
        case model, system, messages, temperature, tools, stream
        case maxTokens = "max_tokens"
        case toolChoice = "tool_choice"
    }
}

/// Helpers shared by both routes for turning a decoded conversation into a prompt.
enum Conversation {
    /// Decodes `T` from a request body, describing the failure in words a client
    /// developer can act on (the real servers answer 400 with such a message).
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) -> Result<T, DecodeFailure> {
        let data = Data(buffer.readableBytesView)
        do {
            return .success(try JSONDecoder().decode(type, from: data))
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            return .failure(DecodeFailure(message: "Invalid JSON in request body: \(context.debugDescription)"))
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.dataCorrupted(let context)
        {
            return .failure(DecodeFailure(message: "\(path(context.codingPath)): \(context.debugDescription)"))
        } catch DecodingError.keyNotFound(let key, let context) {
            return .failure(DecodeFailure(message: "\(path(context.codingPath + [key])): Field required"))
        } catch {
            return .failure(DecodeFailure(message: "Invalid request body"))
        }
    }

    /// The text of the last `user` message, where `#sim` directives live.
    static func lastUserText(_ messages: [ChatMessage]) -> String {
        messages.last { $0.role == "user" }?.text ?? ""
    }

    /// Approximate prompt tokens of all messages plus an optional system text.
    static func promptTokens(_ messages: [ChatMessage], system: String = "") -> Int {
        SimTokens.approximateCount(system + messages.map(\.text).joined())
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "body" : keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
}

/// A request body that could not be decoded, with the message to send back.
struct DecodeFailure: Error, Sendable {
    let message: String
}
