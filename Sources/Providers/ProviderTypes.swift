import JobProtocol

/// What a worker asks of a provider: one chat completion.
public struct ProviderRequest: Sendable {
    public var messages: [ChatMessage]
    public var maxTokens: Int
    public var temperature: Double?
    public var topP: Double?
    public var stop: [String]?
    /// Ask for token logprobs (OpenAI kind only; Anthropic has none).
    public var wantLogprobs: Bool
    public var timeout: Duration
    /// The job's tools, tool choice and response format in OpenAI's shape, and its seed.
    public var tools: [JSONValue]?
    public var toolChoice: JSONValue?
    public var responseFormat: JSONValue?
    public var parallelToolCalls: Bool?
    public var seed: Int?

    public init(
        messages: [ChatMessage], maxTokens: Int, temperature: Double? = nil, topP: Double? = nil, stop: [String]? = nil, wantLogprobs: Bool = false,
        timeout: Duration, tools: [JSONValue]? = nil, toolChoice: JSONValue? = nil, responseFormat: JSONValue? = nil,
        parallelToolCalls: Bool? = nil, seed: Int? = nil
    ) {
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.stop = stop
        self.wantLogprobs = wantLogprobs
        self.timeout = timeout
        self.tools = tools
        self.toolChoice = toolChoice
        self.responseFormat = responseFormat
        self.parallelToolCalls = parallelToolCalls
        self.seed = seed
    }
}

/// A provider's answer, normalised across wire formats.
public struct ProviderResponse: Sendable, Equatable {
    /// The answer shown to the user, without any `<think>` reasoning.
    public var text: String
    /// R1-style reasoning split off the answer; kept for debugging, never returned to users.
    public var reasoning: String?
    public var tokensInput: Int
    public var tokensOutput: Int
    /// Input tokens read from the provider's prompt cache (Anthropic), priced lower.
    public var tokensCachedInput: Int = 0
    /// One logprob per generated token, when the provider returned them.
    public var tokenLogprobs: [Double]?
    public var finishReason: String?
    public var model: String
    /// The functions the model asks to call, in OpenAI's shape whatever the wire format.
    public var toolCalls: [ToolCall]?
    /// A streamed call that its caller stopped (`StreamControl.stop`): the answer so far, with
    /// the tokens counted so far, for the partial call's cost.
    public var stoppedEarly = false

    public init(
        text: String, reasoning: String? = nil, tokensInput: Int, tokensOutput: Int, tokenLogprobs: [Double]? = nil, finishReason: String? = nil,
        model: String, toolCalls: [ToolCall]? = nil
    ) {
        self.toolCalls = toolCalls
        self.text = text
        self.reasoning = reasoning
        self.tokensInput = tokensInput
        self.tokensOutput = tokensOutput
        self.tokenLogprobs = tokenLogprobs
        self.finishReason = finishReason
        self.model = model
    }
}

/// A failed provider call, reduced to the few cases the fallback and retry policies tell apart.
public struct ProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let timeout = Code(name: "timeout")
        public static let connection = Code(name: "connection")
        public static let rateLimited = Code(name: "rate_limited")
        public static let http4xx = Code(name: "http_4xx")
        public static let http5xx = Code(name: "http_5xx")
        public static let badResponse = Code(name: "bad_response")
        /// The request does not fit the model's context window (a 4xx that says so).
        public static let contextLength = Code(name: "context_length")
        /// The job asks for something this provider's wire format cannot carry (found before
        /// any call: for example tools together with a response format for Claude).
        public static let unsupportedRequest = Code(name: "unsupported_request")
        public var description: String { name }
    }

    public var code: Code
    public var message: String
    public var status: Int?
    /// From a 429's `Retry-After` header.
    public var retryAfter: Duration?

    public init(_ code: Code, _ message: String, status: Int? = nil, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.retryAfter = retryAfter
    }

    /// The report's fallback reason: `timeout_error`, or `error_<code>`.
    public var fallbackReason: String { code == .timeout ? "timeout_error" : "error_\(code.name)" }

    /// Worth trying the next endpoint (a backup GPU host) for.
    public var isEndpointFailure: Bool { code == .connection || code == .http5xx }

    public var description: String {
        "\(code)\(status.map { " (HTTP \($0))" } ?? ""): \(message)"
    }

    /// What a client may be told: the kind of failure and the HTTP status, never the
    /// provider's address or its error text (which can echo the request).
    public var clientMessage: String {
        let http = status.map { " (HTTP \($0))" } ?? ""
        switch code {
        case .timeout: return "the model did not answer in time"
        case .connection: return "the model's server could not be reached"
        case .rateLimited: return "the model's provider is rate limiting requests\(http); retry later"
        case .contextLength: return "the request does not fit the model's context window\(http)"
        case .http4xx: return "the model's provider refused the request\(http)"
        case .http5xx: return "the model's provider failed\(http)"
        case .badResponse: return "the model's provider returned an answer that could not be read\(http)"
        // Cervella's own words about the caller's request, naming fields and ids, never text.
        case .unsupportedRequest: return message
        default: return "the call to the model failed (\(code))\(http)"
        }
    }

    /// The full error for the worker's log, cut to 500 characters (provider bodies are already
    /// reduced to one line with quoted request text replaced, see `ErrorBody`).
    public var logDescription: String {
        let full = description
        return full.count <= 500 ? full : String(full.prefix(500)) + "…"
    }
}

/// One tier's model behind one wire format.
public protocol ChatProvider: Sendable {
    var model: String { get }
    /// The tier's endpoint breakers, shared by every call: for `modelHealth()`, stats and
    /// the periodic `probe(http:timeout:)`.
    var health: EndpointHealth { get }
    func complete(_ request: ProviderRequest) async throws(ProviderError) -> ProviderResponse
    /// The same call, streamed: `sink` gets the answer as it comes, and may stop it. Returns
    /// the whole answer, as `complete` would; an upstream that ends without its end marker, or
    /// sends an error event, throws.
    func stream(_ request: ProviderRequest, to sink: @escaping StreamSink) async throws(ProviderError) -> ProviderResponse
}
