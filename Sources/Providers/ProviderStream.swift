import JobProtocol

/// What a provider streamed since the last delta: answer text (without reasoning), pieces of
/// tool calls, and the logprobs of the tokens that came.
public struct StreamDelta: Sendable, Equatable {
    public var text: String
    public var toolCalls: [ToolCallDelta]
    public var logprobs: [Double]
    /// Tokens the provider generated for this delta (reasoning included), for a partial call's cost.
    public var tokens: Int

    public init(text: String = "", toolCalls: [ToolCallDelta] = [], logprobs: [Double] = [], tokens: Int = 0) {
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

/// A piece of one tool call, in OpenAI's streaming shape: the first piece of a call carries
/// its id and name, later ones more of its arguments' text.
public struct ToolCallDelta: Sendable, Equatable {
    public var index: Int
    public var id: String?
    public var name: String?
    public var arguments: String

    public init(index: Int, id: String? = nil, name: String? = nil, arguments: String = "") {
        self.index = index
        self.id = id
        self.name = name
        self.arguments = arguments
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
                ToolCallDelta(index: $0.offset, id: $0.element.id, name: $0.element.name, arguments: $0.element.arguments)
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
