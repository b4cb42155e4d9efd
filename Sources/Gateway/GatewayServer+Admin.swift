import ControlPlane
import Foundation
import Hummingbird
import JobProtocol

/// The admin API (report 4.2): statistics, configuration, live switches. Each Redis round trip
/// runs under `gateway.redis_timeout_ms`, like the rest of the request path.
extension GatewayServer {
    func adminStats() async throws -> Response {
        let commands = self.commands, keys = self.keys
        let report = try await withRedisDeadline { try await StatsReport.load(connection: commands, keys: keys) }
        return GatewayResponse.json(report.json(settings: settings))
    }

    func adminConfig() async throws -> Response {
        let store = self.store
        return GatewayResponse.json(ConfigReport.json(settings: settings, overrides: try await withRedisDeadline { try await store.read() }))
    }

    func toggleTier(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let toggle = try decode(ToggleTierRequest.self, from: try await body(request, context))
        guard Tier(toggle.tier) != nil else { throw Self.invalid("tier must be 1, 2 or 3, got \(toggle.tier)") }
        let store = self.store
        try await withRedisDeadline { try await store.set(["tier\(toggle.tier)_enabled": toggle.enabled ? "true" : "false"], by: "gateway") }
        await refreshLiveFlags()
        logger.notice("tier toggled through the admin API", metadata: ["cervella.tier": "\(toggle.tier)", "cervella.enabled": "\(toggle.enabled)"])
        return GatewayResponse.json([
            "tier": toggle.tier, "enabled": toggle.enabled, "message": "Tier \(toggle.tier) \(toggle.enabled ? "enabled" : "disabled")",
        ])
    }

    func rollback() async throws -> Response {
        let store = self.store
        try await withRedisDeadline { try await store.emergencyRollback(by: "gateway") }
        await refreshLiveFlags()
        logger.critical("EMERGENCY ROLLBACK: all requests routing to Claude")
        return GatewayResponse.json([
            "status": "rolled_back", "message": "All self-hosted tiers disabled, routing 100% to Claude",
            "timestamp": UTCTime(Date()).iso8601,
        ])
    }

    /// Rereads the switches just written; when Redis is slow the watcher's next poll does it.
    private func refreshLiveFlags() async {
        let live = self.live
        _ = try? await withRedisDeadline { await live.refresh() }
    }
}
