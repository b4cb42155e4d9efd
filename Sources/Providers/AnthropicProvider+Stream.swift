import CurlHTTP
import Foundation
import JobProtocol

extension AnthropicProvider {
    /// A streamed Messages call (`"stream": true`): named events from `message_start` to
    /// `message_stop`, as Claude sends them.
    public func stream(_ request: ProviderRequest, to sink: @escaping StreamSink) async throws(ProviderError) -> ProviderResponse {
        let (body, forcedAnswer, headers) = try prepared(request, stream: true)
        let data = Data(body)
        let reader = try await transport.stream(path: "/v1/messages", headers: headers, body: data, timeout: request.timeout) {
            stream, endpoint in
            await EventReader.read(
                EventReader(forcedAnswer: forcedAnswer), from: stream, host: ProviderTransport.host(endpoint), request: data, sink: sink)
        }
        var usage = reader.usage
        // A stopped message has no final usage: its tokens are those that came.
        if reader.stopped { usage["output_tokens"] = .integer(Int64(max(usage["output_tokens"]?.intValue ?? 0, reader.tokens))) }
        var response = Self.response(
            blocks: reader.blocks, stopReason: reader.stopReason, usage: .object(usage), model: reader.model ?? model,
            forcedAnswer: forcedAnswer, request: request)
        response.stoppedEarly = reader.stopped
        return response
    }

    /// The events of one streamed message, read into the content blocks that `complete` would
    /// have read from the whole reply.
    struct EventReader: StreamEventReader {
        var blocks: [JSONValue] = []
        var stopReason: String?
        var usage: [String: JSONValue] = [:]
        var model: String?
        var tokens = 0
        var done = false
        var stopped = false
        let forcedAnswer: Bool
        /// The blocks being streamed, by the event's index: their type, text or input JSON so far.
        private var open: [Int: (block: [String: JSONValue], text: String, toolIndex: Int?)] = [:]
        private var toolCount = 0

        init(forcedAnswer: Bool) { self.forcedAnswer = forcedAnswer }

        static let endMarker = "message_stop"

        /// Reads one event; what may be released of it goes into `delta`. Unknown events are
        /// skipped, as Anthropic's versioning policy asks of clients.
        mutating func read(_ event: ServerSentEvents.Event, into delta: inout StreamDelta, host: String, request: Data) throws(ProviderError) {
            guard event.name != "ping" else { return }
            guard let data = JSONValue.read(Array(event.data.utf8)), case .object = data else {
                throw ProviderError(.badResponse, "\(host) sent a stream event that is not JSON (\(event.name))")
            }
            switch event.name {
            case "message_start":
                let message = data["message"]
                model = message?["model"]?.stringValue
                if case .object(let fields)? = message?["usage"] { usage.merge(fields) { $1 } }
            case "content_block_start":
                guard let index = data["index"]?.intValue, case .object(let block)? = data["content_block"] else { return }
                var toolIndex: Int?
                if block["type"]?.stringValue == "tool_use", !(forcedAnswer && block["name"]?.stringValue == AnthropicWire.answerTool) {
                    toolIndex = toolCount
                    toolCount += 1
                    delta.toolCalls.append(ToolCallPiece(index: toolIndex!, id: block["id"]?.stringValue, name: block["name"]?.stringValue))
                }
                open[index] = (block, block["text"]?.stringValue ?? "", toolIndex)
            case "content_block_delta":
                guard let index = data["index"]?.intValue, var entry = open[index], let piece = data["delta"] else { return }
                switch piece["type"]?.stringValue {
                case "text_delta"?:
                    let text = piece["text"]?.stringValue ?? ""
                    entry.text += text
                    delta.text += text
                case "input_json_delta"?:
                    let json = piece["partial_json"]?.stringValue ?? ""
                    entry.text += json
                    if let toolIndex = entry.toolIndex { delta.toolCalls.append(ToolCallPiece(index: toolIndex, arguments: json)) }
                default:
                    return  // thinking_delta, signature_delta, citations: not part of the answer
                }
                open[index] = entry
                tokens += 1
                delta.tokens += 1
            case "content_block_stop":
                guard let index = data["index"]?.intValue else { return }
                close(index)
            case "message_delta":
                if let reason = data["delta"]?["stop_reason"]?.stringValue { stopReason = reason }
                if case .object(let fields)? = data["usage"] { usage.merge(fields.filter { $0.value != .null }) { $1 } }
            case "message_stop":
                done = true
            case "error":
                let error = data["error"]
                let type = error?["type"]?.stringValue ?? "error"
                let message = ErrorBody(Data(event.data.utf8), request: request).message.map { ": \($0)" } ?? ""
                let text = "\(host) reported \(type) in the middle of the answer\(message)"
                switch type {
                case "overloaded_error": throw ProviderError(.http5xx, text, status: 529)
                case "api_error": throw ProviderError(.http5xx, text, status: 500)
                case "rate_limit_error": throw ProviderError(.rateLimited, text, status: 429)
                default: throw ProviderError(.http4xx, text, status: 400)
                }
            default:
                return
            }
        }

        /// Moves a finished block into `blocks`: a text block with its text, a tool-use block
        /// with its input parsed (an input that does not parse stays text, for the check to see).
        private mutating func close(_ index: Int) {
            guard let entry = open.removeValue(forKey: index) else { return }
            var block = entry.block
            if block["type"]?.stringValue == "tool_use" {
                let input = entry.text.isEmpty ? JSONValue.object([:]) : JSONValue.read(Array(entry.text.utf8)) ?? .string(entry.text)
                block["input"] = input
            } else if block["type"]?.stringValue == "text" {
                block["text"] = .string(entry.text)
            }
            blocks.append(.object(block))
        }

        mutating func finish() {
            for index in open.keys.sorted() { close(index) }
        }
    }
}
