import Synchronization

/// Per-endpoint request counters of one simulator.
///
/// Tests of the worker pool need to prove a negative: "the cache answered, so no
/// provider call was made". They read these counters directly (``ProviderSimulator/stats``)
/// or over HTTP (`GET /sim/stats`). Every request that reaches a simulated provider
/// endpoint is counted when it arrives, whatever its outcome (auth failure, injected
/// error, hang), because each of those is a call a real provider would have seen.
/// The `/sim/*` control endpoints are never counted.
public final class SimulatorStats: Sendable {
    /// Key of `POST /v1/chat/completions` (vLLM's OpenAI-compatible API).
    public static let chatCompletions = "/v1/chat/completions"
    /// Key of `POST /v1/messages` (Anthropic's Messages API).
    public static let messages = "/v1/messages"
    /// Key of `GET /v1/models`.
    public static let models = "/v1/models"
    /// Key of `GET /health`.
    public static let health = "/health"

    /// The endpoints that generate text; ``total`` sums only these, so that health
    /// checks from a worker do not count as "a provider call was made".
    public static let generationEndpoints = [chatCompletions, messages]

    private let counts = Mutex<[String: Int]>([:])

    /// Creates an empty set of counters.
    public init() {}

    /// Number of requests seen on `endpoint`, given as its path (for example
    /// `"/v1/chat/completions"`, see the static keys); 0 for an endpoint never called.
    public func count(_ endpoint: String) -> Int {
        counts.withLock { $0[endpoint, default: 0] }
    }

    /// Number of generation calls (chat completions plus messages) since the last reset.
    public var total: Int {
        counts.withLock { counts in
            Self.generationEndpoints.reduce(0) { $0 + counts[$1, default: 0] }
        }
    }

    /// A copy of all counters, keyed by endpoint path.
    public var snapshot: [String: Int] {
        counts.withLock { $0 }
    }

    /// Sets every counter back to zero.
    public func reset() {
        counts.withLock { $0.removeAll() }
    }

    /// Counts one request on `endpoint`.
    func record(_ endpoint: String) {
        counts.withLock { $0[endpoint, default: 0] += 1 }
    }

    /// The counters as the JSON object served by `GET /sim/stats`: every known endpoint
    /// (including those at zero, so a reader need not guess the keys) plus `total`.
    var json: JSONValue {
        let current = snapshot
        let keys = Set(current.keys).union([Self.chatCompletions, Self.messages, Self.models, Self.health]).sorted()
        let endpoints = JSONValue.object(keys.map { ($0, .int(current[$0, default: 0])) })
        let total = Self.generationEndpoints.reduce(0) { $0 + current[$1, default: 0] }
        return .object([("endpoints", endpoints), ("total", .int(total))])
    }
}
