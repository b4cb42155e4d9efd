import ControlPlane
import Foundation
import Hummingbird
import HummingbirdCore
import JobProtocol
import Logging
import Metrics
import NIOCore
import Observability
import Producer
import RedisClient
import ServiceLifecycle
import Settings

/// `cervella gateway`: HTTP in front of the queues (report 4.1, 4.2).
///
/// Redis connections: one for commands (enqueue scripts, result fetches, rate limits, live
/// switches; automatically pipelined), one subscription for reply announcements. However many
/// requests wait, that is all (the reply path is `ReplyDispatcher`).
public final class GatewayServer: Service, Sendable {
    let settings: CervellaSettings
    let keys: KeySpace
    let logger: Logger
    let commands: RedisConnection
    let producer: Producer
    let dispatcher: ReplyDispatcher
    /// Reads the streams of streamed jobs over a fixed two connections.
    let hub: StreamHub
    let live: LiveConfigWatcher
    /// The small tiers' queue waits, for deadline-aware routing.
    let backlog: BacklogWatch
    let store: LiveConfigStore
    let host: String
    let port: Int
    let authenticator: Authenticator
    let admission: AdmissionControl
    private let onListening: @Sendable (Int) async -> Void

    public init(
        settings: CervellaSettings, host: String? = nil, port: Int? = nil, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws {
        self.settings = settings
        self.keys = KeySpace(prefix: settings.redis.keyPrefix)
        self.logger = logger
        var configuration = try RedisConfiguration(url: settings.redis.url)
        configuration.readTimeout = .seconds(10)
        // Named after the deployment, so CLIENT LIST shows which connections a gateway holds.
        self.commands = RedisConnection(configuration: configuration, name: "gateway@\(settings.redis.keyPrefix)", logger: logger)
        let live = LiveConfigWatcher(settings: settings, connection: commands, logger: logger)
        self.live = live
        let backlog = BacklogWatch(connection: commands, keys: keys, logger: logger)
        self.backlog = backlog
        self.producer = Producer(settings: settings, connection: commands, flags: { live.current }, backlog: backlog)
        self.dispatcher = ReplyDispatcher(commands: commands, keys: keys, logger: logger)
        self.hub = StreamHub(commands: commands, keys: keys, logger: logger)
        self.store = LiveConfigStore(connection: commands, keys: keys)
        let requestedHost = host ?? settings.gateway.host
        // Without API keys anyone who can connect can spend the Claude budget: loopback only.
        if settings.gateway.apiKeys.isEmpty && !CervellaSettings.Gateway.isLoopback(requestedHost) {
            logger.warning("no API keys configured (CERVELLA_API_KEYS): listening on 127.0.0.1 only instead of \(requestedHost)")
            self.host = "127.0.0.1"
        } else {
            self.host = requestedHost
        }
        self.port = port ?? settings.gateway.port
        self.authenticator = Authenticator(settings: settings.gateway, listeningOn: self.host)
        self.admission = AdmissionControl(settings: settings, connection: commands, logger: logger)
        self.onListening = onListening
    }

    public func run() async throws {
        if settings.gateway.apiKeys.isEmpty {
            logger.notice("no API keys configured: the API is open to local clients only")
        }
        if settings.gateway.adminKey == nil {
            logger.notice("no CERVELLA_ADMIN_KEY: /api/admin/* is disabled")
        }
        dispatcher.start()
        await live.refresh()
        defer {
            hub.stop()
            dispatcher.stop()
            commands.close()
            producer.close()
        }
        if settings.gateway.probesNeedKey(listeningOn: host) {
            logger.notice("/metrics and /readyz need an API key or the admin key (gateway.protect_probes)")
        }
        _ = PrometheusExport.bootstrap()
        let router = Router(context: GatewayRequestContext.self)
        addRoutes(to: router)
        let onListening = self.onListening
        let app = Application(
            router: router,
            server: .http1(configuration: connectionConfiguration()),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "cervella",
                backlog: Self.listenBacklog(maxConnections: settings.gateway.maxConnections)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.dispatcher.run() }
            group.addTask { await self.hub.run() }
            group.addTask { await self.live.run() }
            if self.settings.routing.backlogDeadlineShare > 0 { group.addTask { await self.backlog.run() } }
            try await app.runService()
            group.cancelAll()
        }
    }

    /// The routes. `/healthz` and the status page `/` (static, it holds no data) are bare;
    /// every other route runs behind the middleware of its access level (`guardedRoutes`),
    /// registered once per group rather than per route.
    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/healthz") { _, _ in GatewayResponse.json(["status": "ok"]) }
        router.get("/") { _, _ in self.statusPage() }
        guardedRoutes(router, access: .probe)
            .get("/readyz") { _, _ in await self.readiness() }
            .get("/metrics") { _, _ in self.metrics() }
        guardedRoutes(router, access: .user)
            .post("/api/chat") { request, context in try await self.chat(request, context) }
            .post("/v1/chat/completions") { request, context in try await self.completion(request, context) }
            .get("/v1/models") { _, _ in self.models() }
            .post("/api/jobs") { request, context in try await self.submitJob(request, context) }
            .post("/api/groups") { request, context in try await self.submitGroup(request, context) }
            .post("/v1/files") { request, context in try await self.uploadFile(request, context) }
            .post("/v1/batches") { request, context in try await self.createBatch(request, context) }
        guardedRoutes(router, access: .user, errorShape: .anthropic)
            .post("/v1/messages") { request, context in try await self.messages(request, context) }
        guardedRoutes(router, access: .userOrAdmin)
            .get("/api/status") { _, _ in try await self.status() }
            .post("/api/feedback") { request, context in try await self.feedback(request, context) }
            .get("/api/jobs/{id}") { request, context in try await self.jobStatus(request, context) }
            .get("/api/jobs/{id}/stream") { request, context in try await self.resumeStream(request, context) }
            .delete("/api/jobs/{id}") { request, context in try await self.cancelJob(request, context) }
            .get("/api/groups/{id}") { request, context in try await self.groupStatus(request, context) }
            .delete("/api/groups/{id}") { request, context in try await self.cancelGroup(request, context) }
            .get("/v1/files/{id}") { request, context in try await self.fileInfo(request, context) }
            .get("/v1/files/{id}/content") { request, context in try await self.fileContent(request, context) }
            .get("/v1/batches/{id}") { request, context in try await self.batchStatus(request, context) }
            .post("/v1/batches/{id}/cancel") { request, context in try await self.cancelBatch(request, context) }
        guardedRoutes(router, access: .admin)
            .get("/api/admin/stats") { _, _ in try await self.adminStats() }
            .get("/api/admin/config") { _, _ in try await self.adminConfig() }
            .post("/api/admin/toggle-tier") { request, context in try await self.toggleTier(request, context) }
            .post("/api/admin/emergency-rollback") { _, _ in try await self.rollback() }
    }

    /// A group of routes open to `access`: each request is counted and timed, then
    /// authenticated, then admitted (the failed-authentication budget of its address, the
    /// rate limit of its key), then handled; whatever is thrown on the way becomes a JSON error.
    func guardedRoutes(
        _ router: Router<GatewayRequestContext>, access: RouteAccess, errorShape: GatewayResponse.ErrorShape = .cervella
    ) -> RouterGroup<GatewayRequestContext> {
        router.group().addMiddleware {
            RequestMetricsMiddleware<GatewayRequestContext>()
            ErrorShapeMiddleware<GatewayRequestContext>(shape: errorShape)
            ErrorResponseMiddleware<GatewayRequestContext>(logger: logger)
            AuthenticationMiddleware(access: access, authenticator: authenticator, admission: admission)
            AdmissionMiddleware(access: access, admission: admission)
        }
    }

    /// The listen backlog: room for a burst of up to `max_connections` new clients (the
    /// kernel caps it at net.core.somaxconn).
    ///
    /// Hummingbird's default of 256 overflows when a couple of thousand clients connect at
    /// once; Linux then drops their handshakes' last packet, the clients send their requests
    /// into the void and resend them seconds later, after backoff. The header read timeout
    /// runs from the accept, so such a client could be closed before its request arrived.
    static func listenBacklog(maxConnections: Int) -> Int {
        min(max(maxConnections, 256), 4096)
    }

    /// Every connection gets the cap and the read timeouts, ahead of Hummingbird's handlers.
    func connectionConfiguration() -> HTTP1Channel.Configuration {
        let counter = ConnectionCounter(limit: settings.gateway.maxConnections)
        let header = TimeAmount.milliseconds(Int64(settings.gateway.headerReadTimeoutSeconds * 1000))
        let body = TimeAmount.milliseconds(Int64(settings.gateway.bodyReadTimeoutSeconds * 1000))
        let logger = self.logger
        return HTTP1Channel.Configuration(additionalChannelHandlers: [
            ConnectionLimitHandler(counter: counter, logger: logger),
            SlowClientHandler(headerTimeout: header, bodyTimeout: body, logger: logger),
        ])
    }
}

extension GatewayServer {
    /// Why a request was refused: thrown by a handler or a middleware, answered by
    /// `ErrorResponseMiddleware` with its response.
    struct Refusal: Error {
        var response: Response
        /// What the response says, kept where known so that it can be prefixed (a group's
        /// child names its place: `requests[3]: …`).
        var status: HTTPResponse.Status?
        var code: String?
        var message: String?

        /// The same refusal, its message after `prefix`.
        func prefixed(_ prefix: String) -> Refusal {
            guard let status, let code, let message else { return self }
            let text = prefix + message
            return Refusal(response: GatewayResponse.error(status, code: code, message: text), status: status, code: code, message: text)
        }
    }

    /// Runs a Redis round trip of the request path under `gateway.redis_timeout_ms`.
    func withRedisDeadline<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await RedisDeadline.run(.milliseconds(settings.gateway.redisTimeoutMs), operation)
    }
}
