/// vLLM's streamed chat completion (`"stream": true`).
///
/// The shapes follow vLLM's `OpenAIServingChat.chat_completion_stream_generator`
/// (`vllm/entrypoints/openai/chat_completion/serving.py`), which dumps every chunk with
/// pydantic's `exclude_unset`, so a key appears only where vLLM sets it:
///
/// - first a chunk whose delta is `{"role":"assistant","content":""}`, with `logprobs` and
///   `finish_reason` null and no `token_ids`;
/// - one chunk per token: `{"content":…}`, or for a tool call first the name delta
///   (`id`, `type`, `index`, `function.name`, `function.arguments: ""`) and then
///   `{"index":0,"function":{"arguments":…}}` pieces (see ``StreamPlan/argumentPieces(_:)``);
///   `logprobs` holds that token's entry when asked, and `token_ids` is an explicit null;
/// - the finish chunk, with `finish_reason` and `stop_reason: null`. vLLM sends it with the
///   step that finished generation: for `stop` and `tool_calls` that step decoded only the
///   end-of-sequence token, so the delta is `{"content":""}` (text) or `{}` (a tool call),
///   but `length` stops on a real token, which therefore rides in the finish chunk;
/// - with `stream_options.include_usage`, a chunk with `choices: []` and `usage`. The other
///   chunks carry no `usage` key at all: current vLLM sets it per chunk only for
///   `continuous_usage_stats` (older versions wrote `"usage": null`, as OpenAI does);
/// - `data: [DONE]`.
///
/// A failure mid-generation is one `data: {"error": …}` line, written by Python's
/// `json.dumps` (hence the spaces) from `create_streaming_error_response`, then
/// `data: [DONE]`; the status stays 200 because the headers went out long before.
extension OpenAIRoutes {
    /// What vLLM writes when generation fails mid-stream (`GenerationError`, a 500).
    static let streamErrorFrame =
        #"data: {"error": {"message": "Internal server error", "type": "InternalServerError", "param": null, "code": 500}}"# + "\n\n"
    /// The end marker of every vLLM stream that did not break.
    static let doneFrame = "data: [DONE]\n\n"

    /// `answer` as vLLM streams it, shaped by the streaming directives (`token_ms`, `cut`,
    /// `midstream_error`).
    static func stream(_ answer: OpenAIAnswer, directives: SimDirectives, includeUsage: Bool) -> SimEventStream {
        var stream = SimEventStream()
        let plan = StreamPlan(directives: directives, tokenCount: answer.tokens.count)
        stream.data(chunk(answer, choices: [["index": 0, "delta": ["role": "assistant", "content": ""], "logprobs": nil, "finish_reason": nil]]))
        if let call = answer.call {
            let opening: JSONValue = [
                "id": .string("chatcmpl-tool-" + randomHex(32)), "type": "function", "index": 0,
                "function": ["name": .string(call.name), "arguments": ""],
            ]
            stream.data(chunk(answer, choices: [tokenChoice(delta: ["tool_calls": [opening]], logprobs: .null)]))
        }
        // `length` stops on a real token: that token's chunk is the finish chunk.
        let lastTokenFinishes = plan.ending == .complete && answer.finishReason == "length"
        for index in 0..<plan.tokensSent {
            stream.pause(plan.tokenDelay)
            let token = answer.tokens[index]
            // A tool call's token goes out in several argument pieces; the token's logprob
            // entry rides on the first, so the entries still line up one per token.
            let pieces = answer.call == nil ? [token] : StreamPlan.argumentPieces(token)
            for (position, piece) in pieces.enumerated() {
                let delta: JSONValue =
                    answer.call == nil
                    ? ["content": .string(piece)] : ["tool_calls": [["index": 0, "function": ["arguments": .string(piece)]]]]
                let entry = position == 0 ? answer.logprobEntries?[index] : nil
                let logprobs = entry.map { JSONValue.object([("content", [$0])]) } ?? .null
                let finishes = lastTokenFinishes && index == answer.tokens.count - 1 && position == pieces.count - 1
                stream.data(
                    chunk(answer, choices: [tokenChoice(delta: delta, logprobs: logprobs, finishReason: finishes ? answer.finishReason : nil)]))
            }
        }
        switch plan.ending {
        case .cut:
            return stream
        case .error:
            stream.send(streamErrorFrame)
            stream.send(doneFrame)
            return stream
        case .complete:
            break
        }
        if !lastTokenFinishes {
            let delta: JSONValue = answer.call == nil ? ["content": ""] : .object([])
            stream.data(chunk(answer, choices: [tokenChoice(delta: delta, logprobs: .null, finishReason: answer.finishReason)]))
        }
        if includeUsage {
            stream.data(chunk(answer, choices: [], usage: answer.usage(details: false)))
        }
        stream.send(doneFrame)
        return stream
    }

    /// A `chat.completion.chunk` of `answer` with `choices` and, for the usage chunk, `usage`.
    private static func chunk(_ answer: OpenAIAnswer, choices: [JSONValue], usage: JSONValue? = nil) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("id", .string(answer.id)), ("object", "chat.completion.chunk"), ("created", .int(answer.created)),
            ("model", .string(answer.model)), ("choices", .array(choices)),
        ]
        if let usage { fields.append(("usage", usage)) }
        return .object(fields)
    }

    /// The choice of a generation step: `stop_reason` only once finished, as vLLM sets it.
    private static func tokenChoice(delta: JSONValue, logprobs: JSONValue, finishReason: String? = nil) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("index", 0), ("delta", delta), ("logprobs", logprobs), ("finish_reason", .optional(finishReason)),
        ]
        if finishReason != nil { fields.append(("stop_reason", .null)) }
        fields.append(("token_ids", .null))
        return .object(fields)
    }
}
