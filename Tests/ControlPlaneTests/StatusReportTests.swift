import Foundation
import JobProtocol
import RedisClient
import Settings
import Testing

@testable import ControlPlane

/// `/api/status`: what any API key may read about the pool.
@Suite struct StatusReportTests {
    static func report(
        stats: StatsReport = StatsReport(totals: [:], costToday: 0, hours: 24), overrides: [String: String] = [:],
        autoSwitch: [String: String] = [:]
    ) -> StatusReport {
        var workers = LiveWorkers()
        workers.count = 2
        workers.workersByQueue = ["tier1": 2, "fallback": 1]
        workers.inFlight = 3
        workers.concurrency = 128
        return StatusReport(
            stats: stats, workers: workers, queueDepths: [.tier1: 4, .tier1Bulk: 900], overrides: overrides, autoSwitch: autoSwitch)
    }

    @Test func itHoldsNoEndpointAddressOrKey() throws {
        var stats = StatsReport(totals: ["requests:tier1": 1, "answered:tier1": 1, "latency_le_100:tier1": 1], costToday: 0, hours: 24)
        stats.endpointHealth["tier1:w1"] = Array(#"{"endpoints":[{"url":"http://gpu-a.internal:8000","state":"up"}]}"#.utf8)
        stats.probedHealth[.tier1] = ["healthy"]
        var settings = CervellaSettings()
        settings.tiers[.claude]?.apiKey = "sk-ant-secret"
        let json = Self.report(stats: stats).json(settings: settings)
        let text = String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self)
        for secret in ["gpu-a", "http", "endpoints", "sk-ant", "api_key"] { #expect(!text.contains(secret)) }
        #expect(Set(json.keys).isSuperset(of: ["latency_percentiles_ms", "fallback_reasons", "cost_today_usd", "cost_month_projection_usd"]))
        #expect(((json["tiers"] as? [String: Any])?["1"] as? [String: Any])?["health"] as? String == "healthy")
    }

    @Test func workersAndQueuesAreCountedEveryQueueListed() {
        let json = Self.report().json(settings: CervellaSettings())
        let workers = json["workers"] as? [String: Any] ?? [:]
        #expect(workers["alive"] as? Int == 2)
        #expect(workers["in_flight"] as? Int == 3)
        #expect(workers["concurrency"] as? Int == 128)
        #expect(workers["queues_served"] as? [String] == ["fallback", "tier1"])
        let queues = json["queues"] as? [String: Int] ?? [:]
        #expect(queues.count == QueueName.allCases.count)
        #expect(queues["tier1"] == 4 && queues["tier1_bulk"] == 900 && queues["fallback"] == 0)
        let tiers = json["tiers"] as? [String: [String: Any]] ?? [:]
        #expect(tiers["1"]?["live_worker"] as? Bool == true)
        #expect(tiers["3"]?["live_worker"] as? Bool == false)
    }

    @Test func aTierSwitchSaysWhoTurnedItOffAndWhy() {
        var settings = CervellaSettings()
        settings.tiers[.tier2]?.enabled = false
        let report = Self.report(
            overrides: ["tier1_enabled": "false", "tier3_enabled": "off", "updated_by": "auto"],
            autoSwitch: ["tier1": #"{"reason":"every tier1 endpoint down for 61 s","at":1768055025}"#, "tier1_down_since": "1768054964"])
        let pool = report.tierSwitch(.tier1, settings: settings)
        #expect(pool.switchedOffBy == .pool)
        #expect(pool.reason == "every tier1 endpoint down for 61 s")
        #expect(pool.switchedOffAt == Date(timeIntervalSince1970: 1_768_055_025))
        #expect(report.tierSwitch(.tier2, settings: settings) == StatusReport.TierSwitch(enabled: false, switchedOffBy: .configuration))
        #expect(report.tierSwitch(.claude, settings: settings) == StatusReport.TierSwitch(enabled: false, switchedOffBy: .operator))
        #expect(Self.report().tierSwitch(.tier1, settings: settings) == StatusReport.TierSwitch(enabled: true))
        let tier1 = (report.json(settings: settings)["tiers"] as? [String: [String: Any]])?["1"] ?? [:]
        #expect(tier1["enabled"] as? Bool == false)
        #expect(tier1["switched_off_by"] as? String == "pool")
        #expect(tier1["switched_off_at"] as? String == "2026-01-10T14:23:45Z")
    }

    /// A tier's window, live, and whether the tier is inside it now.
    @Test func aTiersWindowIsShownWithWhetherItIsOpen() {
        let report = Self.report(overrides: ["tier1_window": "mon-fri 08:00-20:00 Europe/Rome", "fallback_hourly_usd": "2.5"])
        // Wednesday 2 December 2026, 20:00:30 in Rome.
        let json = report.json(settings: CervellaSettings(), now: Date(timeIntervalSince1970: 1_796_238_030))
        let tier1 = (json["tiers"] as? [String: [String: Any]])?["1"] ?? [:]
        #expect(tier1["window"] as? String == "mon-fri 08:00-20:00 Europe/Rome")
        #expect(tier1["in_window"] as? Bool == false)
        #expect((json["tiers"] as? [String: [String: Any]])?["2"]?["in_window"] as? Bool == true)
        #expect((json["fallback_budget_usd"] as? [String: Double])?["hourly"] == 2.5)
    }

    @Test func aHandEditedRecordCannotBreakTheReport() {
        let report = Self.report(overrides: ["tier1_enabled": "false"], autoSwitch: ["tier1": #"{"reason":7,"at":1e300}"#])
        let state = report.tierSwitch(.tier1, settings: CervellaSettings())
        #expect(state.switchedOffBy == .pool)
        #expect(state.switchedOffAt == nil)
        #expect(state.reason == "every endpoint of the tier was down")
        _ = report.json(settings: CervellaSettings())
    }

    @Test func liveWorkersAddUpTheirHeartbeats() {
        let workers = LiveWorkers(heartbeats: [
            Array(#"{"queues":"tier1,fallback","in_flight":2,"concurrency":64}"#.utf8),
            Array(#"{"queues":"tier3","in_flight":1,"concurrency":200}"#.utf8),
            Array("not json".utf8),
        ])
        #expect(workers.count == 2)
        #expect(workers.queues == ["tier1", "fallback", "tier3"])
        #expect(workers.inFlight == 3)
        #expect(workers.concurrency == 264)
    }
}
