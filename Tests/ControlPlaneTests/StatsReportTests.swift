import Foundation
import RedisClient
import Settings
import Testing

@testable import ControlPlane

/// `/api/admin/stats`: the hourly hashes summed, and the report's figures computed from them.
@Suite struct StatsReportTests {
    static func hash(_ fields: [(String, String)]) -> RedisValue {
        .array(fields.flatMap { [RedisValue.bulk(Array($0.0.utf8)), .bulk(Array($0.1.utf8))] })
    }

    @Test func hoursAreSummedAndTodaysCostIsKeptApart() {
        let report = StatsReport(
            hourly: [
                (hour: "2026011014", reply: Self.hash([("requests:tier1", "3"), ("cost_usd", "0.5")])),
                (hour: "2026011000", reply: Self.hash([("requests:tier1", "2"), ("cost_usd", "0.25"), ("odd", "not a number")])),
                (hour: "2026010923", reply: Self.hash([("cost_usd", "1")])),
                (hour: "2026010922", reply: .null),
            ], today: "20260110")
        #expect(report.totals == ["requests:tier1": 5, "cost_usd": 1.75])
        #expect(report.costToday == 0.75)
        #expect(report.hours == 4)
    }

    @Test func onlyFreshWorkerHealthCounts() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        func entry(_ state: String, age: Double) -> RedisValue {
            .bulk(Array(#"{"at":\#(now.timeIntervalSince1970 - age),"state":"\#(state)","endpoints":[]}"#.utf8))
        }
        var report = StatsReport(totals: [:], costToday: 0, hours: 24)
        report.addHealth(
            .array([
                .bulk(Array("tier1:w1".utf8)), entry("healthy", age: 5),
                .bulk(Array("tier1:w2".utf8)), entry("down", age: 5),
                .bulk(Array("tier2:w1".utf8)), entry("down", age: 31),
                .bulk(Array("garbage".utf8)), entry("down", age: 1),
            ]), now: now)
        #expect(report.probedHealth[.tier1]?.sorted() == ["down", "healthy"])
        #expect(report.probedHealth[.tier2] == nil)
        #expect(Set(report.endpointHealth.keys) == ["tier1:w1", "tier1:w2"])
        // The worst fresh state wins.
        #expect(report.health(tier: .tier1) == "down")
    }

    @Test func withoutProbesHealthFollowsTheErrorRate() {
        func health(requests: Double, errors: Double) -> String {
            StatsReport(totals: ["requests:tier3": requests, "answered:tier3": requests, "errors:tier3": errors], costToday: 0, hours: 24).health(
                tier: .tier3)
        }
        #expect(health(requests: 0, errors: 0) == "unknown")
        #expect(health(requests: 100, errors: 5) == "healthy")
        #expect(health(requests: 100, errors: 6) == "degraded")
        #expect(health(requests: 100, errors: 51) == "down")
    }

    @Test func aPercentileIsTheBucketThatHoldsThatShareOfAnswers() {
        var totals = ["answered:tier1": 100.0, "latency_le_100:tier1": 90, "latency_le_250:tier1": 5, "latency_le_500:tier1": 5]
        let report = StatsReport(totals: totals, costToday: 0, hours: 24)
        #expect(report.latencyPercentile(0.5, tier: .tier1) == 100)
        #expect(report.latencyPercentile(0.9, tier: .tier1) == 100)
        #expect(report.latencyPercentile(0.95, tier: .tier1) == 250)
        #expect(report.latencyPercentile(0.99, tier: .tier1) == 500)
        totals["latency_le_250:tier1"] = 0
        totals["latency_le_inf:tier1"] = 5
        totals["latency_le_500:tier1"] = 0
        let slow = StatsReport(totals: totals, costToday: 0, hours: 24)
        #expect(slow.latencyPercentile(0.95, tier: .tier1) == nil)
        #expect(slow.latencyJSON(0.95, tier: .tier1) as? String == ">10000")
        #expect(slow.latencyJSON(0.9, tier: .tier1) as? Int == 100)
        #expect(StatsReport(totals: [:], costToday: 0, hours: 24).latencyPercentile(0.5, tier: .tier1) == nil)
        #expect(StatsReport(totals: [:], costToday: 0, hours: 24).latencyJSON(0.5, tier: .tier1) is NSNull)
    }

    @Test func theReportsFiguresComeFromTheTotals() {
        let report = StatsReport(
            totals: [
                "requests:tier1": 60, "requests:tier2": 20, "requests:tier3": 20,
                "fallbacks:tier1": 6, "fallback_reason:low_confidence": 6,
                "answered:tier1": 54, "latency_ms_sum:tier1": 5400, "latency_le_100:tier1": 54,
                "answered:tier3": 26, "latency_ms_sum:tier3": 26_000, "latency_le_inf:tier3": 26,
                "confidence_sum:tier1": 45, "confidence_count:tier1": 50,
                "errors:tier2": 2, "cache_hits": 7, "dead": 1,
                "cost_usd": 2, "claude_equivalent_usd": 8, "message_batch_answers": 4, "message_batch_saved_usd": 0.25,
            ], costToday: 1.5, hours: 24)
        var settings = CervellaSettings()
        settings.budget.dailyCostAlertUSD = 1
        settings.budget.monthlyBudgetUSD = 1000
        // January: 31 days.
        let json = report.json(settings: settings, now: Date(timeIntervalSince1970: 1_768_055_025))
        #expect(json["window_hours"] as? Int == 24)
        #expect(json["requests_24h"] as? [String: Int] == ["total": 100, "tier_1": 60, "tier_2": 20, "tier_3": 20])
        #expect(json["tier_distribution"] as? [String: Double] == ["tier_1": 0.6, "tier_2": 0.2, "tier_3": 0.2])
        #expect((json["fallback_rate"] as? [String: Any])?["tier_1"] as? Double == 0.1)
        #expect(json["fallback_reasons"] as? [String: Int] == ["low_confidence": 6])
        #expect((json["avg_latency_ms"] as? [String: Any])?["tier_1"] as? Int == 100)
        #expect((json["p95_latency_ms"] as? [String: Any])?["tier_1"] as? Int == 100)
        #expect((json["p95_latency_ms"] as? [String: Any])?["tier_3"] as? String == ">10000")
        let percentiles = json["latency_percentiles_ms"] as? [String: [String: Any]] ?? [:]
        #expect(percentiles["tier_1"]?["p50"] as? Int == 100)
        #expect(percentiles["tier_1"]?["p99"] as? Int == 100)
        #expect(percentiles["tier_3"]?["p50"] as? String == ">10000")
        #expect(percentiles["tier_2"]?["p90"] is NSNull)
        #expect((json["avg_confidence"] as? [String: Any])?["tier_1"] as? Double == 0.9)
        #expect(json["error_rate"] as? Double == 0.02)
        #expect(json["cache_hits_24h"] as? Int == 7)
        #expect(json["dead_letters_24h"] as? Int == 1)
        #expect(json["cost_24h_usd"] as? Double == 2)
        #expect(json["cost_today_usd"] as? Double == 1.5)
        #expect(json["cost_month_projection_usd"] as? Double == 62)
        #expect(json["savings_vs_claude_only_usd"] as? Double == 6)
        #expect(json["savings_vs_claude_only_pct"] as? Double == 75)
        #expect(json["message_batch_answers_24h"] as? Int == 4)
        #expect(json["message_batch_saved_24h_usd"] as? Double == 0.25)
        #expect(json["alerts"] as? [String] == ["cost today $1.50 is over DAILY_COST_ALERT_USD $1.0"])
    }

    @Test func aMonthlyProjectionOverBudgetRaisesAnAlertByTheMonthsLength() {
        var settings = CervellaSettings()
        settings.budget.monthlyBudgetUSD = 30
        let report = StatsReport(totals: ["cost_usd": 1], costToday: 0, hours: 24)
        // February 2026: 28 days.
        let alerts = report.json(settings: settings, now: Date(timeIntervalSince1970: 1_771_000_000))["alerts"] as? [String]
        #expect(alerts == [])
        #expect(report.alerts(settings: settings, cost: 1, daysInMonth: 31) == ["monthly projection $31.00 is over MONTHLY_BUDGET_USD $30.0"])
        #expect(report.alerts(settings: settings, cost: 1, daysInMonth: 28).isEmpty)
    }
}
