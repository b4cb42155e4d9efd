import Synchronization

/// Per-endpoint request counters of one simulator.
///
/// Tests of the worker pool need to prove a negative: "the cache answered, so no
/// provider call was made". They read these counters directly (``ProviderSimulator/stats``)
/// or over HTTP (`GET /sim/stats`). Every request that reaches a simulated provider
/// endpoint is counted when it arrives, whatever its outcome (auth failure, injected
/// error, hang), because each of those is a call a real provider would have seen.
/// The `/sim/*` control endpoints are never counted.
///
/// Streamed answers (`"stream": true`) are counted twice more: once in ``startedStreams``
/// when the body starts, and once in ``cancelledStreams`` if it ends early because the client
/// went away (a write failed) or the handler was cancelled. A test that aborts a streaming
/// call uses the second to prove the abort reached the provider, as a real one would free
/// the GPU. A `cut` or `midstream_error` stream ends on the simulator's terms: not cancelled.
public final class SimulatorStats: Sendable {
    /// Key of `POST /v1/chat/completions` (vLLM's OpenAI-compatible API).
    public static let chatCompletions = "/v1/chat/completions"
    /// Key of `POST /v1/messages` (Anthropic's Messages API).
    public static let messages = "/v1/messages"
    /// Key of `GET /v1/models`.
    public static let models = "/v1/models"
    /// Key of `GET /health`.
    public static let health = "/health"
    /// Key of `POST /v1/messages/batches` (a Message Batch created).
    public static let messageBatches = "/v1/messages/batches"
    /// Key of `GET /v1/messages/batches` (the list).
    public static let messageBatchList = "GET /v1/messages/batches"
    /// Key of `GET /v1/messages/batches/{id}` (a batch retrieved, polled).
    public static let messageBatchRetrieve = "/v1/messages/batches/{id}"
    /// Key of `GET /v1/messages/batches/{id}/results`.
    public static let messageBatchResults = "/v1/messages/batches/{id}/results"
    /// Key of `POST /v1/messages/batches/{id}/cancel`.
    public static let messageBatchCancel = "/v1/messages/batches/{id}/cancel"
    /// Not an endpoint: the entries of every batch created, each a Messages request the
    /// simulator answered. Batch requests are not in ``total``: they are billed apart.
    public static let messageBatchEntries = "message_batch_entries"

    /// The endpoints that generate text; ``total`` sums only these, so that health
    /// checks from a worker do not count as "a provider call was made".
    public static let generationEndpoints = [chatCompletions, messages]

    /// Key of ``startedStreams`` in the `GET /sim/stats` object.
    public static let streams = "streams"
    /// Key of ``cancelledStreams`` in the `GET /sim/stats` object.
    public static let cancelled = "cancelled"

    private struct Counters {
        var endpoints: [String: Int] = [:]
        var streams = 0
        var cancelled = 0
    }

    private let counters = Mutex(Counters())

    /// Creates an empty set of counters.
    public init() {}

    /// Number of requests seen on `endpoint`, given as its path (for example
    /// `"/v1/chat/completions"`, see the static keys); 0 for an endpoint never called.
    public func count(_ endpoint: String) -> Int {
        counters.withLock { $0.endpoints[endpoint, default: 0] }
    }

    /// Number of generation calls (chat completions plus messages) since the last reset.
    public var total: Int {
        counters.withLock { counters in
            Self.generationEndpoints.reduce(0) { $0 + counters.endpoints[$1, default: 0] }
        }
    }

    /// Number of streamed answers whose body started, on either endpoint, since the last reset.
    public var startedStreams: Int {
        counters.withLock { $0.streams }
    }

    /// Number of streamed answers that ended early because the client disconnected or the
    /// handler was cancelled, since the last reset.
    public var cancelledStreams: Int {
        counters.withLock { $0.cancelled }
    }

    /// A copy of the request counters, keyed by endpoint path (the stream counters are not
    /// endpoints; read them through ``startedStreams`` and ``cancelledStreams``).
    public var snapshot: [String: Int] {
        counters.withLock { $0.endpoints }
    }

    /// Sets every counter back to zero.
    private let outage = Mutex(false)

    /// Whether the simulated host is down (`POST /sim/outage`).
    public var isDown: Bool { outage.withLock { $0 } }

    public func setOutage(_ down: Bool) { outage.withLock { $0 = down } }

    public func reset() {
        counters.withLock { $0 = Counters() }
        hooks.withLock { $0.removeAll() }
    }

    /// Bodies posted to `POST /sim/webhook` (the pool's scale webhook, pointed here by tests),
    /// oldest first; the last 100 are kept.
    private let hooks = Mutex<[String]>([])

    public var webhooks: [String] { hooks.withLock { $0 } }

    func recordWebhook(_ body: String) {
        hooks.withLock { hooks in
            hooks.append(body)
            if hooks.count > 100 { hooks.removeFirst(hooks.count - 100) }
        }
    }

    /// Counts `count` requests (one by default) on `endpoint`.
    func record(_ endpoint: String, count: Int = 1) {
        counters.withLock { $0.endpoints[endpoint, default: 0] += count }
    }

    /// Counts one streamed body that started.
    func recordStreamStarted() {
        counters.withLock { $0.streams += 1 }
    }

    /// Counts one streamed body that ended early.
    func recordStreamCancelled() {
        counters.withLock { $0.cancelled += 1 }
    }

    /// The counters as the JSON object served by `GET /sim/stats`: every known endpoint
    /// (including those at zero, so a reader need not guess the keys), `total`, and the
    /// stream counters `streams` and `cancelled`, read under one lock so they agree.
    var json: JSONValue {
        let current = counters.withLock { $0 }
        let keys = Set(current.endpoints.keys).union([Self.chatCompletions, Self.messages, Self.models, Self.health]).sorted()
        let endpoints = JSONValue.object(keys.map { ($0, .int(current.endpoints[$0, default: 0])) })
        let total = Self.generationEndpoints.reduce(0) { $0 + current.endpoints[$1, default: 0] }
        return .object([
            ("endpoints", endpoints), ("total", .int(total)),
            (Self.streams, .int(current.streams)), (Self.cancelled, .int(current.cancelled)),
        ])
    }
}
