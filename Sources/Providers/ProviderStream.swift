import CurlHTTP
import Foundation
import JobProtocol

/// What a provider streamed since the last delta: answer text (without reasoning), pieces of
/// tool calls, and the logprobs of the tokens that came.
public struct StreamDelta: Sendable, Equatable {
    public var text: String
    public var toolCalls: [ToolCallPiece]
    public var logprobs: [Double]
    /// Tokens the provider generated for this delta (reasoning included), for a partial call's cost.
    public var tokens: Int

    public init(text: String = "", toolCalls: [ToolCallPiece] = [], logprobs: [Double] = [], tokens: Int = 0) {
        self.text = text
        self.toolCalls = toolCalls
        self.logprobs = logprobs
        self.tokens = tokens
    }

    public var isEmpty: Bool { text.isEmpty && toolCalls.isEmpty && logprobs.isEmpty && tokens == 0 }

    mutating func merge(_ other: StreamDelta) {
        text += other.text
        toolCalls += other.toolCalls
        logprobs += other.logprobs
        tokens += other.tokens
    }
}

/// What the caller of a stream wants after a delta.
public enum StreamControl: Sendable {
    case proceed
    /// Abort the call now: the answer is not wanted (early escalation, a cancelled job).
    case stop
}

/// Receives a stream's deltas as they come; several network chunks that arrive while it is
/// busy come as one delta.
public typealias StreamSink = @Sendable (StreamDelta) async -> StreamControl

extension ChatProvider {
    /// A provider without a streaming wire (the instant benchmark provider) answers whole:
    /// one delta with the full answer.
    public func stream(_ request: ProviderRequest, to sink: @escaping StreamSink) async throws(ProviderError) -> ProviderResponse {
        var response = try await complete(request)
        let delta = StreamDelta(
            text: response.text,
            toolCalls: (response.toolCalls ?? []).enumerated().map {
                ToolCallPiece(index: $0.offset, id: $0.element.id, name: $0.element.name, arguments: $0.element.arguments)
            },
            logprobs: response.tokenLogprobs ?? [], tokens: response.tokensOutput)
        if await sink(delta) == .stop { response.stoppedEarly = true }
        return response
    }
}

/// Holds back an R1-style `<think>` block at the start of streamed content, so that only the
/// answer is released; what it held is reasoning.
///
/// Content that begins (after white space) with `<think>` is held until `</think>`; content
/// that could still become `<think>` is held until it cannot. A reasoning template that sends
/// only the closing tag (vLLM's R1 template) cannot be told from an answer while it streams:
/// the final answer (`ThinkBlock.split`) is right either way, which is why such tiers stream
/// `verified`.
struct ThinkFilter: Sendable {
    private var held = ""
    private var decided = false

    /// The part of `piece` that may be released now.
    mutating func release(_ piece: String) -> String {
        if decided { return piece }
        held += piece
        let trimmed = held.drop { $0.isWhitespace }
        if trimmed.isEmpty { return "" }
        if "<think>".hasPrefix(trimmed) { return "" }
        if trimmed.hasPrefix("<think>") {
            guard let close = held.range(of: "</think>") else { return "" }
            decided = true
            let answer = String(held[close.upperBound...]).trimmingLeadingWhitespace()
            held = ""
            return answer
        }
        decided = true
        defer { held = "" }
        return held
    }
}

/// A wire format's reader of one streamed answer: it reads each event into the whole answer,
/// and what may be released of it into the delta for the caller.
protocol StreamEventReader: Sendable {
    /// The end marker was read.
    var done: Bool { get }
    /// The caller stopped the stream.
    var stopped: Bool { get set }
    /// The end marker, named in the error of a stream that ends without it.
    static var endMarker: String { get }
    mutating func read(_ event: ServerSentEvents.Event, into delta: inout StreamDelta, host: String, request: Data) throws(ProviderError)
    /// Completes what is still open, once the stream is over or stopped.
    mutating func finish()
}

extension StreamEventReader {
    /// Reads `body` to its end marker, handing the caller a delta per network read (everything
    /// that arrived while it was busy with the last one). An error event, a stream cut before
    /// its end marker, or an event over the size limit is the failure; what came before it in
    /// the same read still reaches the caller.
    static func read(
        _ initial: Self, from body: BodyStream, host: String, request: Data, sink: StreamSink
    ) async -> Result<Self, ProviderError> {
        var reader = initial
        var events = ServerSentEvents()
        var sawEvent = false
        var firstByte: UInt8?
        while let bytes = await body.next() {
            if firstByte == nil { firstByte = bytes.first }
            var delta = StreamDelta()
            do {
                for event in try events.feed(bytes) where !reader.done {
                    sawEvent = true
                    try reader.read(event, into: &delta, host: host, request: request)
                }
            } catch let error as ProviderError {
                if !delta.isEmpty { _ = await sink(delta) }
                return .failure(error)
            } catch {
                return .failure(ProviderError(.badResponse, "\(host) sent an event larger than \(events.maxEventBytes) bytes"))
            }
            if !delta.isEmpty, await sink(delta) == .stop {
                reader.stopped = true
                reader.finish()
                return .success(reader)
            }
            if reader.done {
                reader.finish()
                return .success(reader)
            }
        }
        if !sawEvent && firstByte == UInt8(ascii: "{") {
            return .failure(ProviderError(.badResponse, "\(host) answered JSON, not an event stream: does it support \"stream\": true?"))
        }
        return .failure(ProviderError(.badResponse, "the stream from \(host) ended before its end marker (\(Self.endMarker))"))
    }
}
