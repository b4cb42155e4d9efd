import Foundation
import JobProtocol
import RedisClient
import Settings
import Testing

@testable import ControlPlane

/// `cervella admin report`: the window's hourly hashes summed into rows per provider, tier and
/// model, with the fallback cost, the savings and the month's projection.
@Suite struct CostReportTests {
    static func hash(_ fields: [(String, String)]) -> RedisValue {
        .array(fields.flatMap { [RedisValue.bulk(Array($0.0.utf8)), .bulk(Array($0.1.utf8))] })
    }

    static func day(_ text: String) throws -> Date { try #require(CostReport.day(text)) }

    @Test func windowsAreUTCDaysWeeksAndTheMonthToDate() throws {
        let day = try Self.day("2026-01-10").addingTimeInterval(15 * 3600)
        let daily = CostReport.Window(.daily, day: day)
        #expect(daily.hours.count == 24 && daily.hours.first == "2026011000" && daily.hours.last == "2026011023")
        #expect(daily.firstDay == "2026-01-10" && daily.lastDay == "2026-01-10")
        let weekly = CostReport.Window(.weekly, day: day)
        #expect(weekly.hours.count == 7 * 24 && weekly.firstDay == "2026-01-04" && weekly.lastDay == "2026-01-10")
        let monthly = CostReport.Window(.monthly, day: day)
        #expect(monthly.hours.count == 10 * 24 && monthly.hours.first == "2026010100" && monthly.lastDay == "2026-01-10")
        // A week across a month's end, and the last day of a leap February.
        #expect(CostReport.Window(.weekly, day: try Self.day("2026-03-02")).firstDay == "2026-02-24")
        #expect(CostReport.Window(.monthly, day: try Self.day("2028-02-29")).hours.count == 29 * 24)
    }

    @Test func onlyRealDaysAreAccepted() {
        #expect(CostReport.day("2026-01-31") != nil)
        for bad in ["2026-02-30", "2026-1-31", "26-01-31", "2026-01-31T00", "abcd-ef-gh", "２０２６-01-01", "1999-12-31", "", "2026-13-01"] {
            #expect(CostReport.day(bad) == nil, "\(bad)")
        }
    }

    /// Two hours of a tier-1 model with fallbacks to Claude, cache hits, and an older hour
    /// written before the per-model fields existed.
    static func sampleReplies() -> [RedisValue] {
        [
            hash([
                ("requests:tier1", "10"), ("answered:tier1", "8"), ("fallbacks:tier1", "2"), ("answered:tier3", "2"),
                ("cost_usd", "0.0125"), ("cost_usd:tier1", "0.0025"), ("cost_usd:tier3", "0.01"),
                ("model_calls:tier1:qwen3-4b", "10"), ("model_answered:tier1:qwen3-4b", "8"), ("model_cost_usd:tier1:qwen3-4b", "0.0025"),
                ("model_tokens_input:tier1:qwen3-4b", "800"), ("model_tokens_output:tier1:qwen3-4b", "1600"),
                ("model_calls:tier3:claude-sonnet-4-5", "2"), ("model_answered:tier3:claude-sonnet-4-5", "2"),
                ("model_cost_usd:tier3:claude-sonnet-4-5", "0.01"), ("model_tokens_input:tier3:claude-sonnet-4-5", "200"),
                ("model_tokens_output:tier3:claude-sonnet-4-5", "400"),
                ("fallback_cost_usd", "0.0105"), ("claude_equivalent_usd", "0.05"), ("cache_hits", "3"), ("cache_saved_usd", "0.009"),
                ("coalesced_hits", "4"), ("coalesced_saved_usd", "0.012"), ("fallback_suppressed:budget", "1"),
                ("message_batch_answers", "6"), ("message_batch_saved_usd", "0.02"),
            ]),
            .null,
            hash([
                ("requests:tier3", "1"), ("answered:tier3", "1"), ("cost_usd", "0.004"), ("cost_usd:tier3", "0.004"),
                ("claude_equivalent_usd", "0.004"),
            ]),
        ]
    }

    @Test func rowsArePerProviderTierAndModelAndTheRestIsUnattributed() throws {
        let window = CostReport.Window(.daily, day: try Self.day("2026-01-10"))
        let report = CostReport(window: window, replies: Self.sampleReplies(), settings: CervellaSettings(), now: window.end)
        #expect(report.hoursWithData == 2)
        #expect(
            report.rows.map { "\($0.provider)/\($0.tier)/\($0.model)" } == [
                "openai-compatible/1/qwen3-4b", "anthropic/3/claude-sonnet-4-5", "anthropic/3/(unattributed)",
            ])
        let qwen = report.rows[0]
        #expect(qwen.requests == 8 && qwen.calls == 10 && qwen.tokensInput == 800 && qwen.tokensOutput == 1600)
        // Report Part 8: 10 calls at 1200 an hour of a $0.35 GPU hour.
        #expect(abs(qwen.gpuHours - 10.0 / 1200) < 1e-12 && abs(qwen.gpuCostUSD - 0.35 * 10 / 1200) < 1e-12)
        #expect(report.rows[1].gpuHours == 0)
        let older = report.rows[2]
        #expect(older.requests == 1 && abs(older.costUSD - 0.004) < 1e-12 && older.calls == 0)
        #expect(abs(report.rows.map(\.costUSD).reduce(0, +) - report.costUSD) < 1e-12)
        #expect(abs(report.costUSD - 0.0165) < 1e-12)
        #expect(abs(report.savingUSD - (0.054 - 0.0165)) < 1e-12)
        #expect(abs((report.savingPercent ?? 0) - (0.054 - 0.0165) / 0.054 * 100) < 1e-9)
        #expect(report.projection == nil)
    }

    @Test func theMonthIsProjectedFromItsElapsedPartAgainstTheBudget() throws {
        var settings = CervellaSettings()
        settings.budget.monthlyBudgetUSD = 0.1
        let window = CostReport.Window(.monthly, day: try Self.day("2026-01-10"))
        // Now is noon of the 10th: 9.5 days of January's 31.
        let now = try Self.day("2026-01-10").addingTimeInterval(12 * 3600)
        let report = CostReport(window: window, replies: Self.sampleReplies(), settings: settings, now: now)
        let projection = try #require(report.projection)
        #expect(abs(projection.elapsedFraction - 9.5 / 31) < 1e-12)
        #expect(abs(projection.monthCostUSD - 0.0165 * 31 / 9.5) < 1e-12)
        #expect(projection.overBudget == false)
        settings.budget.monthlyBudgetUSD = 0.05
        #expect(CostReport(window: window, replies: Self.sampleReplies(), settings: settings, now: now).projection?.overBudget == true)
        // A past month's report: the whole month is elapsed by its last day's end.
        let past = CostReport(window: CostReport.Window(.monthly, day: try Self.day("2025-12-31")), replies: [], settings: settings, now: now)
        #expect(past.projection?.elapsedFraction == 1)
    }

    @Test func hostileValuesAndFieldsAreSkipped() throws {
        let window = CostReport.Window(.daily, day: try Self.day("2026-01-10"))
        let replies = [
            Self.hash([
                ("cost_usd", "nan"), ("cost_usd", "1e300"), ("cost_usd", "-inf"), ("cost_usd", "0.5"), ("cache_hits", "9223372036854775807999"),
                ("model_calls:tier9:x", "5"), ("model_calls:tierX:y", "5"), ("model_calls:tier1:", "5"), ("model_answered", "5"),
                ("model_calls:tier1:" + String(repeating: "m", count: 65), "5"), ("answered:tier1", "1e15"), ("answered:tier1", "1e16"),
            ]),
            .array([.bulk(Array("odd".utf8))]), .integer(4), .error("WRONGTYPE"),
        ]
        let report = CostReport(window: window, replies: replies, settings: CervellaSettings(), now: window.end)
        #expect(report.costUSD == 0.5)
        #expect(report.cacheHits == 0)
        #expect(report.rows.map(\.model) == [CostReport.unattributed])
        #expect(report.rows[0].requests == 1e15)
        // Saturating, not trapping, where a figure becomes an integer.
        let json = report.json()
        #expect((json["totals"] as? [String: Any])?["requests"] as? Int == 1_000_000_000_000_000)
        _ = report.csv()
        _ = report.text()
    }

    @Test func csvHasAHeaderARowPerModelTotalsAndFigures() throws {
        let window = CostReport.Window(.monthly, day: try Self.day("2026-01-10"))
        var replies = Self.sampleReplies()
        replies.append(Self.hash([("model_calls:tier2:r1, \"distill\"", "2"), ("model_cost_usd:tier2:r1, \"distill\"", "0.001")]))
        let report = CostReport(window: window, replies: replies, settings: CervellaSettings(), now: window.end)
        let lines = report.csv().components(separatedBy: "\r\n")
        #expect(lines.first == CostReport.csvColumns.joined(separator: ","))
        #expect(lines.last == "")
        #expect(lines.contains("2026-01-01,2026-01-10,model,openai-compatible,1,qwen3-4b,8,10,800,1600,0.002500,0.0083,0.002917,,"))
        #expect(lines.contains("2026-01-01,2026-01-10,model,openai-compatible,2,\"r1, \"\"distill\"\"\",0,2,0,0,0.001000,0.0033,0.001667,,"))
        #expect(lines.contains("2026-01-01,2026-01-10,fallback,,,,2,,,,0.010500,,,,"))
        #expect(lines.contains("2026-01-01,2026-01-10,cache,,,,3,,,,,,,0.009000,"))
        #expect(lines.contains("2026-01-01,2026-01-10,single_flight,,,,4,,,,,,,0.012000,"))
        #expect(lines.contains("2026-01-01,2026-01-10,message_batches,,,,6,,,,,,,0.020000,"))
        #expect(lines.contains("2026-01-01,2026-01-10,fallback_suppressed_budget,,,,1,,,,,,,,"))
        #expect(lines.contains { $0.hasPrefix("2026-01-01,2026-01-10,total,,,,11,14,1000,2000,0.016500,") })
        #expect(lines.contains { $0.hasPrefix("2026-01-01,2026-01-10,projection,,,,,,,,") && $0.hasSuffix(",400.000000") })
    }

    @Test func jsonCarriesTheSameFigures() throws {
        let window = CostReport.Window(.weekly, day: try Self.day("2026-01-10"))
        let report = CostReport(window: window, replies: Self.sampleReplies(), settings: CervellaSettings(), now: window.end)
        let data = try JSONSerialization.data(withJSONObject: report.json(), options: [.sortedKeys])
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(json.keys) == ["period", "rows", "totals", "fallback", "cache", "single_flight", "message_batches", "claude_only", "projection"])
        let totals = try #require(json["totals"] as? [String: Any])
        #expect(totals["cost_usd"] as? Double == 0.0165 && totals["tokens_input"] as? Int == 1000 && totals["requests_routed"] as? Int == 11)
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.count == 3 && rows[0]["model"] as? String == "qwen3-4b" && rows[0]["tier"] as? Int == 1)
        #expect((json["fallback"] as? [String: Any])?["cost_usd"] as? Double == 0.0105)
        #expect((json["claude_only"] as? [String: Any])?["saving_pct"] as? Double == 69.4)
        #expect(json["projection"] is NSNull)
        #expect((json["period"] as? [String: Any])?["from"] as? String == "2026-01-04")
    }
}
