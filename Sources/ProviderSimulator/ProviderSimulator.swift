import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// A fake LLM provider that speaks vLLM's OpenAI-compatible API and Anthropic's
/// Messages API, for demos and for every test of the worker pool.
///
/// Real providers are slow, cost money and cannot be made to fail on demand; the
/// simulator answers instantly (or as slowly as asked), deterministically (same prompt,
/// same answer), and misbehaves when the last user message carries `#sim` lines:
///
/// | directive | effect |
/// | --- | --- |
/// | `latency_ms=N` | wait N ms first (replaces default latency and jitter) |
/// | `status=N` | answer N (400–599) in the endpoint's error shape; 429 adds `retry-after: 1` |
/// | `hang` | never answer; cancelled on graceful shutdown |
/// | `empty` / `short` / `evasive` | empty, "OK.", or hedging answer |
/// | `garbage` | 200 with an HTML body |
/// | `think` | `<think>…</think>` before the answer (OpenAI endpoint only) |
/// | `logprob=X` | mean of the returned token logprobs |
/// | `token_ms=N` | streamed answers: wait N ms (0–60000) before each token |
/// | `cut` | streamed answers: end the body after about half the tokens, without the end marker |
/// | `midstream_error` | streamed answers: the format's in-stream error after about half the tokens |
/// | `judge_score=N` | the POC judge scores answers to this task N (1–5); see below |
///
/// A Messages request whose system prompt is `cervella poc`'s judge prompt (its first line
/// starts with "Cervella POC judge") is answered as the judge: `SCORE: N` and a `REASON:`
/// line, the score derived from the judged answer (``JudgeWriter``).
///
/// Both generation endpoints stream with `"stream": true`, in each real server's wire
/// format (vLLM's `data:` chunks ending in `[DONE]`, Anthropic's named events), with the
/// same answer a non-streaming request gets.
///
/// Anthropic's Message Batches are served too (`/v1/messages/batches`, ``MessageBatchRoutes``),
/// with the processing time and expiry of the configuration.
///
/// Endpoints: `POST /v1/chat/completions`, `POST /v1/messages`, `GET /v1/models`,
/// `GET /health`, and for tests `GET /sim/stats`, `POST /sim/outage` (`{"down": true}`: every
/// other endpoint answers 503 until `{"down": false}`), `POST /sim/webhook` (a receiver that
/// keeps what is posted; `GET /sim/webhooks` lists it) and `POST /sim/reset` (see
/// ``SimulatorStats``, which also counts started and cancelled streams). It runs as a
/// ServiceLifecycle `Service`, so it can sit in the same `ServiceGroup` as the workers and
/// shut down with them. With `port: 0` the kernel picks a free port, reported through
/// `onListening`, which lets parallel tests run their own simulators.
public struct ProviderSimulator: Service {
    /// The settings this simulator was created with.
    public let configuration: SimulatorConfiguration
    /// Request counters, shared by every router or application built from this value.
    public let stats: SimulatorStats

    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void
    private let random: SeededRandom
    /// Message Batches created on this simulator (`MessageBatchRoutes`).
    private let batches = MessageBatchStore()

    /// Creates a simulator; nothing listens until ``run()``.
    /// - Parameters:
    ///   - configuration: address, default latency, jitter, error rate and seed.
    ///   - logger: receives one debug line per request (never the prompt text).
    ///   - onListening: called once with the bound port when the server accepts connections.
    public init(
        configuration: SimulatorConfiguration,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.stats = SimulatorStats()
        self.logger = logger
        self.onListening = onListening
        self.random = SeededRandom(seed: configuration.seed)
    }

    /// Serves until the task is cancelled or a graceful shutdown is triggered; a request
    /// hanging on `#sim hang` is cancelled by the graceful shutdown, not waited for.
    public func run() async throws {
        try await buildApplication().run()
    }

    /// The Hummingbird application serving the simulator on the configured address;
    /// handy with HummingbirdTesting (`try await sim.buildApplication().test(.router) { … }`).
    public func buildApplication() -> Application<RouterResponder<BasicRequestContext>> {
        let onListening = self.onListening
        let port = configuration.port
        return Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(configuration.host, port: port)),
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? port)
            },
            logger: logger
        )
    }

    /// The router with every simulated endpoint plus the `/sim/*` control endpoints.
    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: OutageMiddleware(stats: stats))
        let planner = RequestPlanner(configuration: configuration, random: random)
        OpenAIRoutes(planner: planner, stats: stats).register(on: router)
        AnthropicRoutes(planner: planner, stats: stats).register(on: router)
        MessageBatchRoutes(configuration: configuration, store: batches, stats: stats).register(on: router)
        let stats = self.stats

        // vLLM answers its health check with 200 and an empty body.
        router.get("/health") { _, context in
            stats.record(SimulatorStats.health)
            context.logger.debug("sim request", metadata: ["endpoint": "\(SimulatorStats.health)", "status": "200"])
            return Response(status: .ok)
        }
        // Control endpoints for tests and demos; never counted themselves.
        router.get("/sim/stats") { _, context in
            context.logger.debug("sim request", metadata: ["endpoint": "/sim/stats", "status": "200"])
            return SimResponse.json(stats.json)
        }
        // A whole-host outage: every endpoint, /health included, answers 503 until it ends.
        router.post("/sim/outage") { request, context in
            let body = try await request.body.collect(upTo: 1024)
            let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
            guard let down = object?["down"] as? Bool else {
                return SimResponse.json(["error": "send {\"down\": true} or {\"down\": false}"], status: 400)
            }
            stats.setOutage(down)
            context.logger.debug("sim request", metadata: ["endpoint": "/sim/outage", "status": "200"])
            return SimResponse.json(["down": .bool(down)])
        }
        // A webhook receiver: keeps what is posted, for tests of the pool's scale webhook.
        router.post("/sim/webhook") { request, context in
            let body = try await request.body.collect(upTo: 65_536)
            stats.recordWebhook(String(decoding: Data(buffer: body), as: UTF8.self))
            context.logger.debug("sim request", metadata: ["endpoint": "/sim/webhook", "status": "200"])
            return SimResponse.json(.object([("received", .bool(true))]))
        }
        router.get("/sim/webhooks") { _, _ in
            SimResponse.json(.object([("webhooks", .array(stats.webhooks.map { .string($0) }))]))
        }
        router.post("/sim/reset") { _, context in
            stats.reset()
            context.logger.debug("sim request", metadata: ["endpoint": "/sim/reset", "status": "200"])
            return SimResponse.json(stats.json)
        }
        return router
    }
}

/// While ``SimulatorStats/isDown``, every endpoint but `/sim/*` answers 503, as a GPU host
/// that lost its engine does.
struct OutageMiddleware<Context: RequestContext>: RouterMiddleware {
    let stats: SimulatorStats

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard stats.isDown, !request.uri.path.hasPrefix("/sim/") else { return try await next(request, context) }
        return SimResponse.json(["error": ["message": "simulated outage", "type": "server_error", "code": 503]], status: 503)
    }
}
