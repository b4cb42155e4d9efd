import JobProtocol

/// The report's ChatRequest (4.1).
struct ChatRequest: Decodable {
    var message: String
    var context: [String: JSONValue]?
    var tierHint: String?
    var forceModel: String?
    var enableFallback: Bool?
    var stream: Bool?

    enum CodingKeys: String, CodingKey {
        case message, context, tierHint = "tier_hint", forceModel = "force_model", enableFallback = "enable_fallback", stream
    }
}

/// OpenAI's chat completion request, as much of it as Cervella honours.
struct CompletionRequest: Decodable {
    enum Stop: Decodable {
        case one(String), many([String])
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) { self = .one(one) } else { self = .many(try container.decode([String].self)) }
        }
        var list: [String] {
            switch self {
            case .one(let stop): return [stop]
            case .many(let stops): return stops
            }
        }
    }

    var model: String?
    var messages: [ChatMessage]
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Double?
    var topP: Double?
    var stop: Stop?
    var stream: Bool?
    var streamOptions: [String: JSONValue]?
    var n: Int?
    var tools: [JSONValue]?
    var toolChoice: JSONValue?
    var responseFormat: JSONValue?
    var parallelToolCalls: Bool?
    var seed: Int?

    enum CodingKeys: String, CodingKey {
        case model, messages, maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens"
        case temperature, topP = "top_p", stop, stream, n, tools, toolChoice = "tool_choice", responseFormat = "response_format"
        case parallelToolCalls = "parallel_tool_calls", seed, streamOptions = "stream_options"
    }
}

struct AsyncJobRequest: Decodable {
    var messages: [ChatMessage]?
    var message: String?
    var context: [String: JSONValue]?
    var tierHint: String?
    var forceModel: String?
    var enableFallback: Bool?
    var cache: Bool?
    var maxTokens: Int?
    var temperature: Double?
    var timeoutSeconds: Double?
    var metadata: [String: JSONValue]?
    var tools: [JSONValue]?
    var toolChoice: JSONValue?
    var responseFormat: JSONValue?
    var parallelToolCalls: Bool?
    var seed: Int?
    var stream: Bool?
    var priority: String?

    enum CodingKeys: String, CodingKey {
        case messages, message, context, tierHint = "tier_hint", forceModel = "force_model", enableFallback = "enable_fallback"
        case cache, maxTokens = "max_tokens", temperature, timeoutSeconds = "timeout_seconds", metadata
        case tools, toolChoice = "tool_choice", responseFormat = "response_format", parallelToolCalls = "parallel_tool_calls", seed
        case stream, priority
    }
}

/// `POST /api/groups`: children as `/api/jobs` bodies, and how the group ends.
struct GroupRequest: Decodable {
    var requests: [AsyncJobRequest]
    var wait: String?
    var n: Int?
    var onFailure: String?
    var timeoutSeconds: Double?
    var priority: String?

    enum CodingKeys: String, CodingKey {
        case requests, wait, n, onFailure = "on_failure", timeoutSeconds = "timeout_seconds", priority
    }
}

struct ToggleTierRequest: Decodable {
    var tier: Int
    var enabled: Bool
}
