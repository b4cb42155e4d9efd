/// The sampling parameters a job passes to its provider (`params` in the job JSON).
public struct GenerationParameters: Codable, Sendable, Equatable, Hashable {
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var stop: [String]?
    /// `"json"` or `"markdown"`: the answer's expected format, which the confidence heuristic checks.
    public var expectedFormat: String?

    public init(maxTokens: Int? = nil, temperature: Double? = nil, topP: Double? = nil, stop: [String]? = nil, expectedFormat: String? = nil) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.stop = stop
        self.expectedFormat = expectedFormat
    }

    enum CodingKeys: String, CodingKey {
        case maxTokens = "max_tokens"
        case temperature
        case topP = "top_p"
        case stop
        case expectedFormat = "expected_format"
    }
}
