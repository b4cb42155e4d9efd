import CervellaTestSupport
import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Testing

/// Report 6.1's "qwen3_endpoint down → emergency rollback", done by the pool itself: tier 1's
/// host (its own simulator) goes down and comes back while Claude's stays up.
@Suite(.timeLimit(.minutes(3))) struct AutoRollbackTests {
    /// Polls `condition` every 200 ms for up to `seconds`.
    func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    /// A pool whose tier 1 has its own host (a simulator this can take down), switched off after
    /// 1 s down and back on after 1 s up; the host is stopped whatever happened.
    func withTierOneHost(_ body: (TestPool, RunningSimulator) async throws -> Void) async throws {
        let host = try await RunningSimulator.start()
        do {
            try await withTestPool(configure: { settings in
                settings.tiers[.tier1]?.endpoints = [host.baseURL]
                settings.worker.autoRollbackDownSeconds = 1
                settings.worker.autoRollbackUpSeconds = 1
            }) { pool in try await body(pool, host) }
        } catch {
            await host.stop()
            throw error
        }
        await host.stop()
    }

    func fields(_ pool: TestPool, _ key: String) async throws -> [String: String] {
        try await pool.redis.send("HGETALL", RedisArgument(key)).hashFields
    }

    @Test func tierOneIsTurnedOffWhileItsHostIsDownAndBackOnWhenItRecovers() async throws {
        try await withTierOneHost { pool, tierOneHost in
            let before = try await pool.ask("Summarize the first note.", cache: false)
            #expect(before.metadata?.modelUsed == "qwen3-4b")

            tierOneHost.stats.setOutage(true)
            #expect(try await eventually(60) { try await fields(pool, pool.keys.config)["tier1_enabled"] == "false" })
            let config = try await fields(pool, pool.keys.config)
            #expect(config["updated_by"] == "auto")
            let record = try await fields(pool, pool.keys.autoSwitch)
            #expect(record["tier1"]?.contains("every tier1 endpoint down") == true)
            #expect(await pool.workersSee { !$0.isEnabled(.tier1) })

            // Tier-1 jobs go straight to Claude: no call to the dead host, no timeout first.
            tierOneHost.stats.reset()
            let during = try await pool.ask("Summarize the second note.", cache: false)
            #expect(during.ok)
            #expect(during.metadata?.modelUsed == "claude-sonnet-4-5")
            #expect(during.metadata?.fallbackReason == "tier1_disabled")
            #expect(tierOneHost.stats.count("/v1/chat/completions") == 0)

            tierOneHost.stats.setOutage(false)
            // The switch goes back to what it was: no override at all (the file's setting).
            #expect(try await eventually(60) { try await fields(pool, pool.keys.config)["tier1_enabled"] == nil })
            #expect(try await fields(pool, pool.keys.autoSwitch)["tier1"] == nil)
            #expect(await pool.workersSee { $0.isEnabled(.tier1) })
            let after = try await pool.ask("Summarize the third note.", cache: false)
            #expect(after.metadata?.modelUsed == "qwen3-4b")
        }
    }

    @Test func aTierAnOperatorTurnedOffStaysOffWhenItsHostRecovers() async throws {
        try await withTierOneHost { pool, tierOneHost in
            tierOneHost.stats.setOutage(true)
            #expect(try await eventually(60) { try await fields(pool, pool.keys.autoSwitch)["tier1"] != nil })
            // The operator takes the switch over while the host is still down.
            try await LiveConfigStore(connection: pool.redis, keys: pool.keys).set(["tier1_enabled": "false"], by: "test")
            #expect(try await fields(pool, pool.keys.autoSwitch)["tier1"] == nil)

            tierOneHost.stats.setOutage(false)
            // Wait until the pool has seen the host up for well over auto_rollback_up_seconds.
            #expect(
                try await eventually(60) {
                    guard let since = try await fields(pool, pool.keys.autoSwitch)["tier1_up_since"].flatMap(Double.init) else { return false }
                    return Date().timeIntervalSince1970 - since > 4
                })
            #expect(try await fields(pool, pool.keys.config)["tier1_enabled"] == "false")
            #expect(try await fields(pool, pool.keys.config)["updated_by"] == "test")
        }
    }
}
