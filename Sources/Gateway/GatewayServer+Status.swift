import ControlPlane
import Foundation
import Hummingbird
import JobProtocol
import RedisClient

/// `GET /api/status` (any API key or the admin key) and the status page at `/` that reads it.
extension GatewayServer {
    /// The pool's figures for the status page (`StatusReport`): statistics, workers, queues,
    /// tier switches. Its four reads go out together on the command connection (which
    /// pipelines them), each under `gateway.redis_timeout_ms` like every round trip of a
    /// request; the slowest decides the answer's time.
    func status() async throws -> Response {
        let commands = self.commands, keys = self.keys
        async let stats = withRedisDeadline { try await StatsReport.load(connection: commands, keys: keys) }
        async let workers = withRedisDeadline { try await LiveWorkers.load(connection: commands, keys: keys) }
        async let depths = withRedisDeadline { try await QueueDepths.load(connection: commands, keys: keys) }
        async let switches = withRedisDeadline {
            try await commands.pipeline([
                RedisCommand("HGETALL", RedisArgument(keys.config)), RedisCommand("HGETALL", RedisArgument(keys.autoSwitch)),
            ])
        }
        let (overrides, autoSwitch) = try await (switches[0].hashFields, switches[1].hashFields)
        let report = StatusReport(
            stats: try await stats, workers: try await workers, queueDepths: try await depths, overrides: overrides, autoSwitch: autoSwitch)
        return GatewayResponse.json(report.json(settings: settings), headers: [.cacheControl: "no-store"])
    }

    /// The page itself: static, so it needs no key and holds no data (it asks for a key and
    /// reads `/api/status` with it).
    func statusPage() -> Response {
        Response(status: .ok, headers: StatusPage.headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: StatusPage.bytes)))
    }
}
