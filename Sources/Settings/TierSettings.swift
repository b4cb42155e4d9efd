import JobProtocol

/// One tier's provider: which API, which model, where, and how its answers are judged and priced.
public struct TierSettings: Sendable, Equatable {
    public enum ProviderKind: String, Sendable, Equatable, CaseIterable {
        /// vLLM's (or llama.cpp's, Ollama's) OpenAI-compatible `/v1/chat/completions`.
        case openai
        /// Anthropic's Messages API, `/v1/messages`.
        case anthropic
        /// No network: answers every request at once with a fixed text. For measuring the pool's
        /// own cost (`cervella bench`, like a no-op task in other job queues); never for users.
        case instant
    }

    public enum ConfidenceMethod: String, Sendable, Equatable, CaseIterable {
        /// Token logprobs when the provider returns them, vetoed by the heuristic: the lower wins.
        case auto
        case logprobs
        case heuristic
        /// Ask the same model to rate its answer 0–10 (report 3.3, method 3): one more call.
        case selfEval = "self_eval"
        case none
    }

    /// How token logprobs become one confidence figure.
    public enum LogprobAggregate: String, Sendable, Equatable, CaseIterable {
        /// exp(mean logprob): the geometric mean token probability. The default: stable on
        /// short answers and at sampling temperatures, where single tokens are often unlikely.
        case mean
        /// exp(10th-percentile logprob): catches one bad span that a mean hides, at the price of
        /// more false fallbacks on long, sampled answers.
        case p10
    }

    /// How a streamed job's answer reaches its client from this tier (docs/STREAMING.md).
    public enum StreamMode: String, Sendable, Equatable, CaseIterable {
        /// Nothing is released until the answer is accepted; a running confidence that falls
        /// clearly under the threshold stops the call early and escalates to Claude.
        case verified
        /// Tokens go to the client as they come; only a failure before the first one can still
        /// fall back, and the result says that the gate was off.
        case live
    }

    public var tier: Tier
    public var enabled: Bool
    /// When the tier serves (tiers 1 and 2); always, by default. Live: `tier<N>_window`.
    public var window = TierWindow()
    public var kind: ProviderKind
    public var model: String
    /// Base URLs, primary first; the next one is tried when one cannot be reached or answers 5xx.
    public var endpoints: [String]
    /// Name of the environment variable holding the API key (never the key itself).
    public var apiKeyEnv: String
    /// A file whose first line is the API key, as an alternative to `apiKeyEnv`.
    public var apiKeyFile: String?
    /// The resolved secret; never logged or printed.
    public var apiKey: String?
    public var anthropicVersion: String
    public var confidenceMethod: ConfidenceMethod
    public var logprobAggregate: LogprobAggregate = .mean
    public var confidenceThreshold: Double
    public var streamMode: StreamMode = .verified
    /// `verified` streams: the answer tokens the running confidence needs before it may
    /// escalate early; 0 never escalates early (the whole answer is scored).
    public var earlyEscalationTokens = 24
    /// `verified` streams escalate early when the running confidence is this far under the
    /// threshold: "clearly under", so that a dip the rest of the answer would lift is not acted on.
    public var earlyEscalationMargin = 0.15
    public var timeoutMs: Int
    public var defaultMaxTokens: Int
    /// Claude-style token pricing, USD per million tokens.
    public var inputUSDPerMillionTokens: Double
    public var outputUSDPerMillionTokens: Double
    /// Input tokens served from the provider's prompt cache (Claude: a tenth of the input price).
    public var cachedInputUSDPerMillionTokens: Double = 0
    /// Self-hosted pricing: a GPU hour amortised over the requests it serves.
    public var gpuHourUSD: Double
    public var requestsPerGPUHour: Double

    public static func defaults(tier: Tier) -> TierSettings {
        switch tier {
        case .tier1:
            return TierSettings(
                tier: .tier1, enabled: true, kind: .openai, model: "qwen3-4b", endpoints: ["http://127.0.0.1:8000"],
                apiKeyEnv: "QWEN3_API_KEY", apiKeyFile: nil, apiKey: nil, anthropicVersion: "2023-06-01",
                confidenceMethod: .auto, confidenceThreshold: 0.70, timeoutMs: 10_000, defaultMaxTokens: 1000,
                inputUSDPerMillionTokens: 0, outputUSDPerMillionTokens: 0, gpuHourUSD: 0.35, requestsPerGPUHour: 1200
            )
        case .tier2:
            return TierSettings(
                tier: .tier2, enabled: false, kind: .openai, model: "deepseek-r1", endpoints: ["http://127.0.0.1:8001"],
                apiKeyEnv: "DEEPSEEK_API_KEY", apiKeyFile: nil, apiKey: nil, anthropicVersion: "2023-06-01",
                confidenceMethod: .auto, confidenceThreshold: 0.70, timeoutMs: 10_000, defaultMaxTokens: 2000,
                inputUSDPerMillionTokens: 0, outputUSDPerMillionTokens: 0, gpuHourUSD: 0.50, requestsPerGPUHour: 600
            )
        case .tier3:
            return TierSettings(
                tier: .tier3, enabled: true, kind: .anthropic, model: "claude-sonnet-4-5", endpoints: ["https://api.anthropic.com"],
                apiKeyEnv: "CLAUDE_API_KEY", apiKeyFile: nil, apiKey: nil, anthropicVersion: "2023-06-01",
                confidenceMethod: .none, confidenceThreshold: 0, streamMode: .live, timeoutMs: 60_000, defaultMaxTokens: 1000,
                inputUSDPerMillionTokens: 3, outputUSDPerMillionTokens: 15, cachedInputUSDPerMillionTokens: 0.30,
                gpuHourUSD: 0, requestsPerGPUHour: 1
            )
        }
    }

    /// The cost of one call: tokens at the per-token prices plus the amortised GPU time.
    /// `cachedInputTokens` are the part of `inputTokens` read from the prompt cache.
    public func costUSD(inputTokens: Int, outputTokens: Int, cachedInputTokens: Int = 0) -> Double {
        let cached = min(max(0, cachedInputTokens), inputTokens)
        let tokens =
            Double(inputTokens - cached) * inputUSDPerMillionTokens / 1e6
            + Double(cached) * cachedInputUSDPerMillionTokens / 1e6
            + Double(outputTokens) * outputUSDPerMillionTokens / 1e6
        let gpu = requestsPerGPUHour > 0 ? gpuHourUSD / requestsPerGPUHour : 0
        return tokens + gpu
    }
}
