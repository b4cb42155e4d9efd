import Hummingbird
import JobProtocol
import Producer

/// Writes a streamed answer as one API's server-sent events. `StreamSession` decides what
/// to send; an encoder only knows its API's shapes. Each call returns the bytes to write.
protocol StreamEncoder: Sendable {
    /// The answer's first bytes, before any content.
    mutating func begin(model: String) -> [UInt8]
    /// A worker began an attempt (a fallback to Claude begins a second one).
    mutating func attempt(tier: Int, model: String, mode: String, entryID: String) -> [UInt8]
    mutating func delta(text: String, toolCalls: [ToolCallPiece], entryID: String) -> [UInt8]
    /// The answer's end, after its last delta.
    mutating func finish(_ result: JobResult, metadata: ResultMetadata, entryID: String) -> [UInt8]
    /// An error after the stream began: an error event in the API's shape, never a clean end.
    mutating func failure(status: HTTPResponse.Status, code: String, message: String) -> [UInt8]
    /// Sent when nothing else was for a while: proxies keep the connection, and a client that
    /// left is noticed (the write fails) so its job can be cancelled.
    func keepAlive() -> [UInt8]
}

/// One server-sent event: optional `event:` and `id:` lines, one `data:` line (JSON has no line breaks).
func serverSentEvent(_ name: String? = nil, id: String? = nil, data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(data.count + 48)
    if let name { out += Array("event: \(name)\n".utf8) }
    if let id { out += Array("id: \(id)\n".utf8) }
    out += Array("data: ".utf8)
    out += data
    out += [0x0A, 0x0A]
    return out
}

/// OpenAI's `chat.completion.chunk` stream, as the `openai` SDK reads it with `stream=True`.
struct OpenAIChunkEncoder: StreamEncoder {
    let id: String
    let created: Int
    let includeUsage: Bool
    private var model = ""

    init(id: String, created: Int, includeUsage: Bool) {
        self.id = id
        self.created = created
        self.includeUsage = includeUsage
    }

    private func chunk(_ choice: ((inout JSONWriter) -> Void)?, usage: ResultMetadata? = nil) -> [UInt8] {
        serverSentEvent(
            data: GatewayResponse.written { w in
                w.object { w in
                    w.key("id"); w.string(id)
                    w.key("object"); w.string("chat.completion.chunk")
                    w.key("created"); w.int(created)
                    w.key("model"); w.string(model)
                    w.key("choices")
                    if let choice { w.array(CollectionOfOne(0)) { w, _ in choice(&w) } } else { w.array([Int]()) { _, _ in } }
                    if includeUsage {
                        w.key("usage")
                        if let usage {
                            w.object { w in
                                w.key("prompt_tokens"); w.int(usage.tokensInput)
                                w.key("completion_tokens"); w.int(usage.tokensOutput)
                                w.key("total_tokens"); w.int(usage.tokensInput &+ usage.tokensOutput)
                            }
                        } else {
                            w.null()
                        }
                    }
                }
            })
    }

    private func choice(finishReason: String?, delta: @escaping (inout JSONWriter) -> Void) -> (inout JSONWriter) -> Void {
        { w in
            w.object { w in
                w.key("index"); w.int(0)
                w.key("delta"); w.object(delta)
                w.key("logprobs"); w.null()
                w.key("finish_reason")
                if let finishReason { w.string(finishReason) } else { w.null() }
            }
        }
    }

    mutating func begin(model: String) -> [UInt8] {
        self.model = model
        return chunk(
            choice(finishReason: nil) { w in
                w.key("role"); w.string("assistant")
                w.key("content"); w.string("")
            })
    }

    mutating func attempt(tier: Int, model: String, mode: String, entryID: String) -> [UInt8] { [] }

    mutating func delta(text: String, toolCalls: [ToolCallPiece], entryID: String) -> [UInt8] {
        var out: [UInt8] = []
        if !text.isEmpty {
            out += chunk(
                choice(finishReason: nil) { w in
                    w.key("content"); w.string(text)
                })
        }
        if !toolCalls.isEmpty {
            out += chunk(
                choice(finishReason: nil) { w in
                    w.key("tool_calls")
                    w.array(toolCalls) { w, piece in
                        w.object { w in
                            w.key("index"); w.int(piece.index)
                            if let id = piece.id { w.key("id"); w.string(id) }
                            if piece.id != nil || piece.name != nil { w.key("type"); w.string("function") }
                            w.key("function")
                            w.object { w in
                                if let name = piece.name { w.key("name"); w.string(name) }
                                w.key("arguments"); w.string(piece.arguments)
                            }
                        }
                    }
                })
        }
        return out
    }

    mutating func finish(_ result: JobResult, metadata: ResultMetadata, entryID: String) -> [UInt8] {
        model = metadata.modelUsed
        var out = chunk(choice(finishReason: result.finishReason ?? "stop") { _ in })
        if includeUsage { out += chunk(nil, usage: metadata) }
        out += Array("data: [DONE]\n\n".utf8)
        return out
    }

    mutating func failure(status: HTTPResponse.Status, code: String, message: String) -> [UInt8] {
        // The openai SDK raises APIError for a chunk that carries `error`.
        serverSentEvent(data: GatewayResponse.errorBody(status, code: code, message: message))
    }

    func keepAlive() -> [UInt8] { Array(": keep-alive\n\n".utf8) }
}

/// `/api/chat`'s own events: `start` (the job id, and the tier, model and mode of each attempt), `delta` (text),
/// `metadata` (the report's ChatResponse: the whole answer and its metadata), or `error`. Each
/// carries its stream entry id, which `Last-Event-ID` resumes after.
struct ChatEventEncoder: StreamEncoder {
    /// The job's id, which `GET /api/jobs/{id}/stream` and `DELETE /api/jobs/{id}` take.
    let id: String

    mutating func begin(model: String) -> [UInt8] { [] }

    mutating func attempt(tier: Int, model: String, mode: String, entryID: String) -> [UInt8] {
        serverSentEvent(
            "start", id: entryID,
            data: GatewayResponse.written { w in
                w.object { w in
                    w.key("id"); w.string(id)
                    w.key("tier"); w.int(tier)
                    w.key("model"); w.string(model)
                    w.key("mode"); w.string(mode)
                }
            })
    }

    mutating func delta(text: String, toolCalls: [ToolCallPiece], entryID: String) -> [UInt8] {
        guard !text.isEmpty else { return [] }
        return serverSentEvent(
            "delta", id: entryID,
            data: GatewayResponse.written { w in
                w.object { w in
                    w.key("text"); w.string(text)
                }
            })
    }

    mutating func finish(_ result: JobResult, metadata: ResultMetadata, entryID: String) -> [UInt8] {
        serverSentEvent("metadata", id: entryID, data: GatewayServer.chatBody(result.response ?? "", metadata: metadata, id: result.id))
    }

    mutating func failure(status: HTTPResponse.Status, code: String, message: String) -> [UInt8] {
        serverSentEvent("error", data: GatewayResponse.errorBody(status, code: code, message: message))
    }

    func keepAlive() -> [UInt8] { Array(": keep-alive\n\n".utf8) }
}

/// Anthropic's Messages stream, as the `anthropic` SDK's `messages.stream` reads it:
/// `message_start`, content blocks (`text` with `text_delta`, `tool_use` with
/// `input_json_delta`), `message_delta` with the stop reason and usage, `message_stop`.
struct AnthropicEventEncoder: StreamEncoder {
    let id: String
    private var nextBlock = 0
    /// The block being written: text, or the tool call of that piece index.
    private var open: (block: Int, tool: Int?)?

    init(id: String) { self.id = id }

    private func event(_ type: String, _ body: (inout JSONWriter) -> Void) -> [UInt8] {
        serverSentEvent(
            type,
            data: GatewayResponse.written { w in
                w.object { w in
                    w.key("type"); w.string(type)
                    body(&w)
                }
            })
    }

    mutating func begin(model: String) -> [UInt8] {
        event("message_start") { w in
            w.key("message")
            w.object { w in
                w.key("id"); w.string("msg_\(id)")
                w.key("type"); w.string("message")
                w.key("role"); w.string("assistant")
                w.key("model"); w.string(model)
                w.key("content"); w.array([Int]()) { _, _ in }
                w.key("stop_reason"); w.null()
                w.key("stop_sequence"); w.null()
                w.key("usage")
                w.object { w in
                    w.key("input_tokens"); w.int(0)
                    w.key("output_tokens"); w.int(0)
                }
            }
        }
    }

    mutating func attempt(tier: Int, model: String, mode: String, entryID: String) -> [UInt8] { [] }

    private mutating func close() -> [UInt8] {
        guard let current = open else { return [] }
        open = nil
        return event("content_block_stop") { w in
            w.key("index"); w.int(current.block)
        }
    }

    private mutating func openBlock(tool: Int?, _ block: (inout JSONWriter) -> Void) -> [UInt8] {
        var out = close()
        let index = nextBlock
        nextBlock += 1
        open = (index, tool)
        out += event("content_block_start") { w in
            w.key("index"); w.int(index)
            w.key("content_block"); w.object(block)
        }
        return out
    }

    mutating func delta(text: String, toolCalls: [ToolCallPiece], entryID: String) -> [UInt8] {
        var out: [UInt8] = []
        if !text.isEmpty {
            if open == nil || open?.tool != nil {
                out += openBlock(tool: nil) { w in
                    w.key("type"); w.string("text")
                    w.key("text"); w.string("")
                }
            }
            let block = open!.block
            out += event("content_block_delta") { w in
                w.key("index"); w.int(block)
                w.key("delta")
                w.object { w in
                    w.key("type"); w.string("text_delta")
                    w.key("text"); w.string(text)
                }
            }
        }
        for piece in toolCalls {
            if open?.tool != piece.index {
                let callID = piece.id ?? "toolu_\(id)_\(piece.index)"
                out += openBlock(tool: piece.index) { w in
                    w.key("type"); w.string("tool_use")
                    w.key("id"); w.string(callID)
                    w.key("name"); w.string(piece.name ?? "")
                    w.key("input"); w.object { _ in }
                }
            }
            guard !piece.arguments.isEmpty else { continue }
            let block = open!.block
            out += event("content_block_delta") { w in
                w.key("index"); w.int(block)
                w.key("delta")
                w.object { w in
                    w.key("type"); w.string("input_json_delta")
                    w.key("partial_json"); w.string(piece.arguments)
                }
            }
        }
        return out
    }

    mutating func finish(_ result: JobResult, metadata: ResultMetadata, entryID: String) -> [UInt8] {
        var out = close()
        out += event("message_delta") { w in
            w.key("delta")
            w.object { w in
                w.key("stop_reason"); w.string(MessagesTranslation.stopReason(result.finishReason))
                w.key("stop_sequence"); w.null()
            }
            w.key("usage")
            w.object { w in
                w.key("input_tokens"); w.int(metadata.tokensInput)
                w.key("output_tokens"); w.int(metadata.tokensOutput)
            }
        }
        out += event("message_stop") { _ in }
        return out
    }

    mutating func failure(status: HTTPResponse.Status, code: String, message: String) -> [UInt8] {
        serverSentEvent("error", data: GatewayResponse.anthropicErrorBody(status, message: message))
    }

    func keepAlive() -> [UInt8] { serverSentEvent("ping", data: Array("{\"type\":\"ping\"}".utf8)) }
}
