/// One chat completion's answer, decided once and then written either as a single
/// `chat.completion` body or as a stream of `chat.completion.chunk`s.
///
/// Deciding first is what makes the two forms agree: the same tokens, the same tool call,
/// the same finish reason and the same per-token logprobs, whatever `stream` says.
struct OpenAIAnswer: Sendable {
    /// `chatcmpl-…`, shared by every chunk of a stream.
    var id: String
    /// Unix seconds, shared by every chunk of a stream.
    var created: Int
    /// The model echoed back.
    var model: String
    /// The completion's tokens: the content, or the tool call's arguments text.
    var tokens: [String]
    /// The tool call, when the answer is one.
    var call: SimTools.Call?
    /// `stop`, `length` or `tool_calls`.
    var finishReason: String
    /// One `logprobs.content` entry per token, when the request asked for logprobs.
    var logprobEntries: [JSONValue]?
    /// Approximate prompt tokens.
    var promptTokens: Int

    /// The `usage` object. vLLM writes `prompt_tokens_details: null` in a completion body but
    /// drops every null from a stream's usage chunk (`exclude_none`), hence `details`.
    func usage(details: Bool) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("prompt_tokens", .int(promptTokens)), ("total_tokens", .int(promptTokens + tokens.count)),
            ("completion_tokens", .int(tokens.count)),
        ]
        if details { fields.append(("prompt_tokens_details", .null)) }
        return .object(fields)
    }
}
