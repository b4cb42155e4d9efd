import CurlHTTP
import Foundation
import JobProtocol

extension OpenAIProvider {
    /// A streamed chat completion (`"stream": true`): `chat.completion.chunk` events, each with
    /// a delta of the answer, then `data: [DONE]`, as vLLM, llama.cpp and OpenAI send them.
    public func stream(_ request: ProviderRequest, to sink: @escaping StreamSink) async throws(ProviderError) -> ProviderResponse {
        let data = Data(Self.body(model: model, request: request, stream: true))
        var headers: [HTTPHeader] = []
        if let apiKey { headers.append(HTTPHeader(name: "authorization", value: "Bearer \(apiKey)")) }
        let reader = try await transport.stream(path: "/v1/chat/completions", headers: headers, body: data, timeout: request.timeout) {
            body, endpoint in
            await ChunkReader.read(ChunkReader(), from: body, host: ProviderTransport.host(endpoint), request: data, sink: sink)
        }
        var response = Self.response(
            reader.choice, promptTokens: reader.promptTokens, completionTokens: reader.completionTokens ?? (reader.stopped ? reader.tokens : nil),
            model: reader.model ?? model, request: request)
        response.stoppedEarly = reader.stopped
        return response
    }

    /// The chunks of one streamed completion, read into the choice that `complete` would have
    /// read from the whole answer.
    struct ChunkReader: StreamEventReader {
        var choice = Reply.Choice()
        var promptTokens: Int?
        var completionTokens: Int?
        var model: String?
        /// Tokens generated so far: logprob entries when asked for, else the chunks that carried a
        /// piece of the answer, reasoning or a tool call (about one per token). Only a stopped call
        /// uses it; a whole one has its usage.
        var tokens = 0
        var done = false
        var stopped = false
        private var think = ThinkFilter()
        private var calls: [Int: ToolCall] = [:]

        static let endMarker = "data: [DONE]"

        /// Reads one event into the choice, and what may be released of it into `delta`.
        mutating func read(_ event: ServerSentEvents.Event, into delta: inout StreamDelta, host: String, request: Data) throws(ProviderError) {
            if event.data == "[DONE]" {
                done = true
                return
            }
            guard let chunk = JSONValue.read(Array(event.data.utf8), skipping: Reply.unread), case .object = chunk else {
                throw ProviderError(.badResponse, "\(host) sent a stream event that is not JSON")
            }
            if let error = chunk["error"], error != .null {
                // vLLM writes a failure during generation as an error object, then [DONE].
                let message = ErrorBody(Data(event.data.utf8), request: request).message.map { ": \($0)" } ?? ""
                let status = error["code"]?.intValue
                throw ProviderError(.http5xx, "\(host) failed in the middle of the answer\(message)", status: status ?? 500)
            }
            if let usage = chunk["usage"], usage != .null {
                promptTokens = usage["prompt_tokens"]?.intValue ?? promptTokens
                completionTokens = usage["completion_tokens"]?.intValue ?? completionTokens
            }
            if let name = chunk["model"]?.stringValue { model = name }
            guard let first = chunk["choices"]?.arrayValue?.first else { return }
            let piece = first["delta"]
            var counted = false
            if let content = piece?["content"]?.stringValue, !content.isEmpty {
                choice.content = (choice.content ?? "") + content
                delta.text += think.release(content)
                counted = true
            }
            for key in ["reasoning_content", "reasoning"] {
                if let text = piece?[key]?.stringValue, !text.isEmpty {
                    choice.reasoningContent = (choice.reasoningContent ?? "") + text
                    counted = true
                }
            }
            for element in piece?["tool_calls"]?.arrayValue ?? [] {
                let index = min(max(element["index"]?.intValue ?? 0, ToolCallPiece.indices.lowerBound), ToolCallPiece.indices.upperBound)
                let function = element["function"]
                let id = element["id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
                let name = function?["name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
                let arguments = function?["arguments"]?.stringValue ?? ""
                var call = calls[index] ?? ToolCall(id: id ?? ToolCall.newID(index: index), name: "", arguments: "")
                if let name { call.name += name }
                call.arguments += arguments
                calls[index] = call
                delta.toolCalls.append(ToolCallPiece(index: index, id: id, name: name, arguments: arguments))
                counted = true
            }
            var generated = counted ? 1 : 0
            if let entries = first["logprobs"]?["content"]?.arrayValue {
                let values = entries.compactMap { $0["logprob"]?.doubleValue }
                choice.logprobs = (choice.logprobs ?? []) + values
                delta.logprobs += values.filter(\.isFinite)
                // One entry per token: a better count than the chunks, which engines may merge or split.
                generated = values.count
            }
            tokens += generated
            delta.tokens += generated
            if let reason = first["finish_reason"]?.stringValue { choice.finishReason = reason }
        }

        /// The tool calls, in index order, once the stream is over.
        mutating func finish() {
            guard !calls.isEmpty else { return }
            choice.toolCalls = calls.keys.sorted().compactMap { index in
                calls[index].map { call in call.arguments.isEmpty ? ToolCall(id: call.id, name: call.name, arguments: "{}") : call }
            }
        }
    }
}
