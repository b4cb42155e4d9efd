/// One Messages call's answer, decided once and then written either as a single `message`
/// body or as a stream of named events.
///
/// Deciding first is what makes the two forms agree: the same tokens, the same tool call and
/// the same stop reason, whatever `stream` says.
struct AnthropicAnswer: Sendable {
    /// `msg_01…`, also the id inside a stream's `message_start`.
    var id: String
    /// The model echoed back.
    var model: String
    /// The answer's tokens: the text, or the tool call's input as JSON text.
    var tokens: [String]
    /// The tool call, when the answer is a `tool_use` block.
    var call: SimTools.Call?
    /// `end_turn`, `max_tokens` or `tool_use`.
    var stopReason: String
    /// Approximate prompt tokens, system text included.
    var inputTokens: Int

    /// The `usage` object of a message (or of a stream's `message_start`) reporting `outputTokens`.
    func usage(outputTokens: Int) -> JSONValue {
        [
            "input_tokens": .int(inputTokens),
            "output_tokens": .int(outputTokens),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        ]
    }
}
