import ControlPlane
import Foundation
import Hummingbird
import JobProtocol
import Observability
import RedisClient

/// The probes: /healthz (liveness, always open), /readyz and /metrics (behind a key when
/// `gateway.protect_probes` applies).
extension GatewayServer {
    /// How long /readyz waits for Redis: an orchestrator's probe must get an answer within a
    /// second whatever Redis does (it used to take 19 s against a frozen Redis).
    var readinessBudget: Duration {
        .milliseconds(min(500, settings.gateway.redisTimeoutMs))
    }

    /// 200 when Redis answers and every enabled tier's queue has a live worker; 503 otherwise,
    /// with the details either way.
    func readiness() async -> Response {
        var checks: [String: Any] = [:]
        var ready = true
        let commands = self.commands, keys = self.keys
        do {
            let alive = try await RedisDeadline.run(readinessBudget) {
                _ = try await commands.send("PING")
                return try await LiveWorkers.load(connection: commands, keys: keys)
            }
            checks["redis"] = "ok"
            checks["workers"] = alive.count
            let flags = live.current
            var tiers: [String: String] = [:]
            for tier in Tier.allCases where flags.isEnabled(tier) {
                let ok = alive.queues.contains("tier\(tier)")
                tiers["tier\(tier)"] = ok ? "ok" : "no live worker serves queue tier\(tier)"
                ready = ready && ok
            }
            checks["tiers"] = tiers
        } catch let error as RedisError {
            ready = false
            // The message (Redis' address) goes to the log, not to whoever probes.
            logger.warning("readiness: redis unavailable", metadata: ["cervella.error": "\(error)"])
            checks["redis"] = "unreachable (\(error.code))"
        } catch {
            ready = false
            checks["redis"] = "unreachable"
        }
        return GatewayResponse.json(["ready": ready, "checks": checks], status: ready ? .ok : .serviceUnavailable)
    }

    /// Prometheus' text format, from the process's registry.
    func metrics() -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: PrometheusExport.scrape()))
        )
    }
}
