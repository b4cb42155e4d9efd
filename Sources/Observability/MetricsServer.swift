import Hummingbird
import Logging
import ServiceLifecycle

/// A small HTTP listener with `GET /metrics`, for worker processes (the gateway serves
/// /metrics on its own port).
public struct MetricsServer: Service {
    let host: String
    let port: Int
    let logger: Logger

    public init(host: String = "127.0.0.1", port: Int, logger: Logger) {
        self.host = host
        self.port = port
        self.logger = logger
        PrometheusExport.bootstrap()
    }

    public static func addRoute(to router: Router<BasicRequestContext>) {
        PrometheusExport.bootstrap()
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: PrometheusExport.scrape()))
            )
        }
    }

    public func run() async throws {
        let router = Router()
        Self.addRoute(to: router)
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "cervella-metrics"), logger: logger)
        try await app.runService()
    }
}
