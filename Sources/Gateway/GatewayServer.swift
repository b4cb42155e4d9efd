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
    let live: LiveConfigWatcher
    let store: LiveConfigStore
    let host: String
    let port: Int
    private let onListening: @Sendable (Int) async -> Void

    public init(settings: CervellaSettings, host: String? = nil, port: Int? = nil, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        self.settings = settings
        self.keys = KeySpace(prefix: settings.redis.keyPrefix)
        self.logger = logger
        var configuration = try RedisConfiguration(url: settings.redis.url)
        configuration.readTimeout = .seconds(10)
        // Named after the deployment, so CLIENT LIST shows which connections a gateway holds.
        self.commands = RedisConnection(configuration: configuration, name: "gateway@\(settings.redis.keyPrefix)", logger: logger)
        let live = LiveConfigWatcher(settings: settings, connection: commands, logger: logger)
        self.live = live
        self.producer = Producer(settings: settings, connection: commands, flags: { live.current })
        self.dispatcher = ReplyDispatcher(commands: commands, keys: keys, logger: logger)
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
            configuration: .init(address: .hostname(host, port: port), serverName: "cervella", backlog: Self.listenBacklog(maxConnections: settings.gateway.maxConnections)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.dispatcher.run() }
            group.addTask { await self.live.run() }
            try await app.runService()
            group.cancelAll()
        }
    }

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/healthz") { _, _ in GatewayResponse.json(["status": "ok"]) }
        router.get("/readyz") { request, context in await self.guarded(request, context, access: .probe) { _, _, _ in await self.readiness() } }
        router.get("/metrics") { request, context in await self.guarded(request, context, access: .probe) { _, _, _ in self.metrics() } }
        router.post("/api/chat") { request, context in await self.guarded(request, context) { request, context, _ in try await self.chat(request, context) } }
        router.post("/v1/chat/completions") { request, context in await self.guarded(request, context) { request, context, _ in try await self.completion(request, context) } }
        router.get("/v1/models") { request, context in await self.guarded(request, context) { _, _, _ in self.models() } }
        router.post("/api/jobs") { request, context in await self.guarded(request, context) { try await self.submitJob($0, $1, $2) } }
        router.get("/api/jobs/{id}") { request, context in await self.guarded(request, context, access: .userOrAdmin) { try await self.jobStatus($0, $1, $2) } }
        router.get("/api/admin/stats") { request, context in await self.guarded(request, context, access: .admin) { _, _, _ in try await self.adminStats() } }
        router.get("/api/admin/config") { request, context in await self.guarded(request, context, access: .admin) { _, _, _ in try await self.adminConfig() } }
        router.post("/api/admin/toggle-tier") { request, context in await self.guarded(request, context, access: .admin) { request, context, _ in try await self.toggleTier(request, context) } }
        router.post("/api/admin/emergency-rollback") { request, context in await self.guarded(request, context, access: .admin) { _, _, _ in try await self.rollback() } }
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
