/// Anthropic's streamed Messages answer (`"stream": true`).
///
/// The event flow Anthropic documents for streaming and the SDKs parse
/// (anthropic-sdk-python's `RawMessageStreamEvent` union), each event as
/// `event: <type>` plus `data: <json>` whose `type` repeats the event name:
///
/// - `message_start`: the message with empty `content`, null `stop_reason`, and `usage`
///   holding the input tokens and `output_tokens: 1`, as the real API reports at that point;
/// - `content_block_start` at index 0: `{"type":"text","text":""}`, or
///   `{"type":"tool_use","id":"toolu_…","name":…,"input":{}}`;
/// - `ping`;
/// - `content_block_delta` per token: `text_delta` with `text`, or `input_json_delta` with
///   `partial_json` pieces (see ``StreamPlan/argumentPieces(_:)``), led by an empty one as in
///   Anthropic's tool-use example, that join to the JSON text of the non-streamed `input`;
/// - `content_block_stop`, then `message_delta` with `delta: {stop_reason, stop_sequence}`
///   and `usage: {output_tokens}`, then `message_stop`.
///
/// A failure mid-stream is an `error` event with Anthropic's error envelope (an
/// `overloaded_error`, the one clients see in practice), after which the body ends.
extension AnthropicRoutes {
    /// `answer` as Anthropic streams it, shaped by the streaming directives (`token_ms`,
    /// `cut`, `midstream_error`).
    static func stream(_ answer: AnthropicAnswer, directives: SimDirectives) -> SimEventStream {
        var stream = SimEventStream()
        let plan = StreamPlan(directives: directives, tokenCount: answer.tokens.count)
        let message: JSONValue = [
            "id": .string(answer.id), "type": "message", "role": "assistant", "content": [], "model": .string(answer.model),
            "stop_reason": nil, "stop_sequence": nil, "usage": answer.usage(outputTokens: 1),
        ]
        stream.event("message_start", ["type": "message_start", "message": message])
        let block: JSONValue =
            answer.call.map { call in ["type": "tool_use", "id": .string(newToolUseID()), "name": .string(call.name), "input": .object([])] }
            ?? ["type": "text", "text": ""]
        stream.event("content_block_start", ["type": "content_block_start", "index": 0, "content_block": block])
        stream.event("ping", ["type": "ping"])
        if answer.call != nil {
            stream.event("content_block_delta", delta(["type": "input_json_delta", "partial_json": ""]))
        }
        for index in 0..<plan.tokensSent {
            stream.pause(plan.tokenDelay)
            let token = answer.tokens[index]
            if answer.call == nil {
                stream.event("content_block_delta", delta(["type": "text_delta", "text": .string(token)]))
            } else {
                for piece in StreamPlan.argumentPieces(token) {
                    stream.event("content_block_delta", delta(["type": "input_json_delta", "partial_json": .string(piece)]))
                }
            }
        }
        switch plan.ending {
        case .cut:
            return stream
        case .error:
            stream.event("error", ["type": "error", "error": ["type": "overloaded_error", "message": "Overloaded"]])
            return stream
        case .complete:
            break
        }
        stream.event("content_block_stop", ["type": "content_block_stop", "index": 0])
        stream.event(
            "message_delta",
            [
                "type": "message_delta", "delta": ["stop_reason": .string(answer.stopReason), "stop_sequence": nil],
                "usage": ["output_tokens": .int(answer.tokens.count)],
            ])
        stream.event("message_stop", ["type": "message_stop"])
        return stream
    }

    /// A `content_block_delta` of block 0.
    private static func delta(_ piece: JSONValue) -> JSONValue {
        ["type": "content_block_delta", "index": 0, "delta": piece]
    }
}
