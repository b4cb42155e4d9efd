/// The sampling parameters a job passes to its provider (`params` in the job JSON), and what
/// an agent's step asks of the answer: the tools it may call, how it must answer.
///
/// `tools`, `tool_choice` and `response_format` are kept in OpenAI's shape, as given (the
/// Anthropic provider translates them); each is written only when present.
public struct GenerationParameters: Codable, Sendable, Equatable, Hashable {
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var stop: [String]?
    /// `"json"` or `"markdown"`: the answer's expected format, which the confidence heuristic checks.
    public var expectedFormat: String?
    /// OpenAI's `tools`: `[{"type":"function","function":{"name":…,"description":…,"parameters":{JSON Schema}}}]`.
    public var tools: [JSONValue]?
    /// `"auto"`, `"none"`, `"required"` or `{"type":"function","function":{"name":…}}`.
    public var toolChoice: JSONValue?
    /// `{"type":"text"}`, `{"type":"json_object"}` or `{"type":"json_schema","json_schema":{…}}`.
    public var responseFormat: JSONValue?
    public var parallelToolCalls: Bool?
    public var seed: Int?

    public init(
        maxTokens: Int? = nil, temperature: Double? = nil, topP: Double? = nil, stop: [String]? = nil, expectedFormat: String? = nil,
        tools: [JSONValue]? = nil, toolChoice: JSONValue? = nil, responseFormat: JSONValue? = nil, parallelToolCalls: Bool? = nil,
        seed: Int? = nil
    ) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.stop = stop
        self.expectedFormat = expectedFormat
        self.tools = tools
        self.toolChoice = toolChoice
        self.responseFormat = responseFormat
        self.parallelToolCalls = parallelToolCalls
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case maxTokens = "max_tokens"
        case temperature
        case topP = "top_p"
        case stop
        case expectedFormat = "expected_format"
        case tools
        case toolChoice = "tool_choice"
        case responseFormat = "response_format"
        case parallelToolCalls = "parallel_tool_calls"
        case seed
    }
}
