/// Settings of a ``ProviderSimulator`` that apply to every request unless a `#sim`
/// directive in the prompt overrides them.
///
/// The simulator stands in for a vLLM host and for Anthropic's API in demos and tests,
/// so the knobs here are the ones that matter to a worker pool: where it listens, how
/// slow it is, and how often it fails. Failures and jitter come from a seeded generator
/// so that a test run with the same seed and the same request order sees the same draws.
public struct SimulatorConfiguration: Sendable {
    /// Address to bind, `127.0.0.1` by default so a test never exposes a port.
    public var host: String
    /// Port to bind; `0` asks the kernel for a free port, reported through `onListening`.
    public var port: Int
    /// Latency added to every generation request that carries no `latency_ms` directive.
    public var defaultLatencyMs: Int
    /// Upper bound of a uniform extra delay `0...jitterMs` added to `defaultLatencyMs`.
    public var jitterMs: Int
    /// Fraction (0...1) of generation requests answered with an injected failure:
    /// 503 on the OpenAI endpoint, 529 `overloaded_error` on the Anthropic endpoint.
    public var errorRate: Double
    /// Seed of the generator used for the error-rate and jitter draws.
    public var seed: UInt64
    /// Seconds a Message Batch stays `in_progress` after its creation before it ends with
    /// its results (Anthropic's take up to 24 hours; tests want a second or two).
    public var batchProcessingSeconds: Double = 2
    /// Seconds after its creation at which a Message Batch expires (Anthropic: 24 hours):
    /// when processing would take longer, the batch ends then with every entry `expired`.
    public var batchExpirySeconds: Double = 86_400

    /// Creates a configuration; every value has the default the design document names.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8090,
        defaultLatencyMs: Int = 0,
        jitterMs: Int = 0,
        errorRate: Double = 0,
        seed: UInt64 = 42
    ) {
        self.host = host
        self.port = port
        self.defaultLatencyMs = defaultLatencyMs
        self.jitterMs = jitterMs
        self.errorRate = errorRate
        self.seed = seed
    }

    /// The error rate clamped to `0...1`, so a typo such as `5` means "always" rather
    /// than tripping a precondition deep inside a request handler.
    var clampedErrorRate: Double {
        guard errorRate.isFinite else { return 0 }
        return min(max(errorRate, 0), 1)
    }
}
