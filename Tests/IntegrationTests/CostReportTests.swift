import CervellaTestSupport
import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Settings
import Testing

/// `cervella admin report` against a real run: jobs through tiers 1 and 3 with fallbacks and
/// cache hits, and the report's figures against the sum of the results' own `cost_usd` and tokens.
@Suite(.timeLimit(.minutes(3))) struct CostReportTests {
    @Test func theReportMatchesTheResultsCostsToTheCentAndTheirTokensExactly() async throws {
        try await withTestPool { pool in
            // Tier 1 answers, tier-1 attempts that fall back to Claude, and Claude directly.
            var jobs = try (0..<14).map { try pool.job("Summarize the report number \($0).", tier: 1, cache: false) }
            jobs += try (0..<6).map { try pool.job("Explain the plan number \($0).\n#sim openai evasive", tier: 1, cache: false) }
            jobs += try (0..<10).map { try pool.job("Write a careful analysis of topic \($0).", tier: 3, cache: false) }
            var results = try await withThrowingTaskGroup(of: JobResult.self) { group in
                for job in jobs { group.addTask { try await pool.producer.submit(job) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // Cache hits a worker finds: the first answer is cached, then identical jobs are
            // pushed the way a producer in another language would, without the enqueue script.
            let cached = try pool.job("Summarize the cached memo.", tier: 1)
            results.append(try await pool.producer.submit(cached))
            for _ in 0..<4 {
                let again = try pool.job("Summarize the cached memo.", tier: 1)
                try await pool.redis.send("LPUSH", RedisArgument(pool.keys.queue(.tier1)), RedisArgument(bytes: again.jsonBytes()))
                results.append(try await pool.producer.waitForResult(again))
            }
            // And hits the producer's enqueue script finds, as a gateway's do: counted there.
            for _ in 0..<3 { results.append(try await pool.producer.submit(try pool.job("Summarize the cached memo.", tier: 1))) }

            let metadata = try results.map { try #require($0.metadata, "\($0.error?.message ?? "no metadata")") }
            let answers = metadata.filter { !$0.cacheHit }
            #expect(answers.count == 31 && metadata.filter(\.cacheHit).count == 7)
            let fellBack = answers.filter(\.fallback)
            #expect(fellBack.count == 6 && fellBack.allSatisfy { $0.tier == 3 })
            let totalCost = metadata.map(\.costUSD).reduce(0, +)
            // A discarded tier-1 attempt costs the tier's GPU share of a call; Claude its tokens.
            let attempt = pool.settings.tier(.tier1).costUSD(inputTokens: 0, outputTokens: 0)
            let tier1Cost = Double(answers.filter { $0.tier == 1 }.count + fellBack.count) * attempt
            let claude = pool.settings.tier(.claude)
            let tier3Cost = answers.filter { $0.tier == 3 }.map { claude.costUSD(inputTokens: $0.tokensInput, outputTokens: $0.tokensOutput) }
                .reduce(0, +)
            #expect(abs(tier1Cost + tier3Cost - totalCost) < 1e-6, "the results' costs are the calls' costs")

            // The workers flush their counts every 0.1 s; wait until every answer is in.
            var report: CostReport?
            let counted = try await eventually(timeout: .seconds(20)) {
                let loaded = try await CostReport.load(
                    connection: pool.redis, keys: pool.keys, period: .weekly, day: Date(), settings: pool.settings)
                report = loaded
                return loaded.totalRow.requests >= Double(answers.count) && loaded.cacheHits >= 7
            }
            #expect(counted)
            let figures = try #require(report)
            #expect(abs(figures.costUSD - totalCost) < 0.005, "to the cent")
            #expect(abs(figures.costUSD - totalCost) < 1e-6, "and, in fact, to a millionth of a dollar")
            #expect(
                figures.rows.map { "\($0.provider)/\($0.tier)/\($0.model)" } == ["openai-compatible/1/qwen3-4b", "anthropic/3/claude-sonnet-4-5"])
            let qwen = figures.rows[0]
            let sonnet = figures.rows[1]
            #expect(abs(qwen.costUSD - tier1Cost) < 1e-6 && abs(sonnet.costUSD - tier3Cost) < 1e-6)
            #expect(qwen.requests == Double(answers.filter { $0.tier == 1 }.count))
            #expect(qwen.calls == Double(answers.filter { $0.tier == 1 }.count + fellBack.count))
            #expect(sonnet.requests == Double(answers.filter { $0.tier == 3 }.count))
            for tier in [1, 3] {
                let row = tier == 1 ? qwen : sonnet
                let tierAnswers = answers.filter { $0.tier == tier }
                #expect(row.tokensInput == Double(tierAnswers.map(\.tokensInput).reduce(0, +)))
                #expect(row.tokensOutput == Double(tierAnswers.map(\.tokensOutput).reduce(0, +)))
            }
            #expect(abs(qwen.gpuHours - qwen.calls / 1200) < 1e-12)
            // The fallback cost: the six discarded attempts and Claude's six answers.
            #expect(abs(figures.fallbackCostUSD - fellBack.map(\.costUSD).reduce(0, +)) < 1e-6)
            #expect(figures.fallbacks == 6)
            let savedByCache = metadata.filter(\.cacheHit).map { claude.costUSD(inputTokens: $0.tokensInput, outputTokens: $0.tokensOutput) }
                .reduce(0, +)
            #expect(figures.cacheHits == 7 && abs(figures.cacheSavedUSD - savedByCache) < 1e-6)
            #expect(figures.savingUSD > 0 && figures.claudeOnlyUSD > figures.costUSD)

            // The command: its CSV and its JSON carry the same figures.
            let csv = try await Self.run(pool, ["admin", "report", "--weekly", "--csv"])
            let rows = csv.components(separatedBy: "\r\n").map { $0.components(separatedBy: ",") }.filter {
                $0.count > 2 && ["model", "total"].contains($0[2])
            }
            #expect(rows.count == 3, "\(csv)")
            let total = try #require(rows.last)
            #expect(total.count == CostReport.csvColumns.count)
            #expect(abs((Double(total[10]) ?? -1) - totalCost) < 0.005, "\(csv)")
            #expect(Int(total[8]) == answers.map(\.tokensInput).reduce(0, +) && Int(total[9]) == answers.map(\.tokensOutput).reduce(0, +))
            let jsonText = try await Self.run(pool, ["admin", "report", "--weekly", "--json"])
            let start = try #require(jsonText.firstIndex(of: "{"))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(jsonText[start...].utf8)) as? [String: Any])
            let totals = try #require(json["totals"] as? [String: Any])
            #expect(abs((totals["cost_usd"] as? Double ?? -1) - totalCost) < 0.005)
            #expect(totals["tokens_output"] as? Int == answers.map(\.tokensOutput).reduce(0, +))
            let jsonRows = try #require(json["rows"] as? [[String: Any]])
            #expect(jsonRows.map { $0["model"] as? String } == ["qwen3-4b", "claude-sonnet-4-5"])
            #expect(abs((jsonRows[1]["cost_usd"] as? Double ?? -1) - tier3Cost) < 0.005)
            // The day the answers were counted in, not today: a run may straddle midnight (UTC).
            let day = String(try #require(answers.last).timestamp.prefix(10))
            let text = try await Self.run(pool, ["admin", "report", "--daily", "--date", day])
            #expect(text.contains("Cervella cost report, daily") && text.contains("qwen3-4b"), "\(text)")
        }
    }

    /// Runs `cervella` against the pool and returns what it printed.
    static func run(_ pool: TestPool, _ arguments: [String]) async throws -> String {
        let process = try pool.launch(arguments)
        #expect(await process.waitForExit(seconds: 60))
        #expect(process.terminationStatus == 0)
        return try String(contentsOfFile: try #require(process.outputPath), encoding: .utf8)
    }
}
