import Foundation

/// The final table of a batch: per tier, its jobs, fallbacks by reason, latency and cost, and
/// what the same jobs would have cost on Claude.
public enum BatchSummary {
    public static func table(_ jobs: [BatchJobRecord]) -> String {
        var lines = ["tier  jobs  failed  fallbacks (by reason)                        p50 ms   p95 ms   cost USD"]
        for tier in Set(jobs.map(\.tier)).sorted() {
            let rows = jobs.filter { $0.tier == tier }
            let latencies = rows.map(\.latencyMs).sorted()
            var reasons: [String: Int] = [:]
            for row in rows { if let reason = row.fallbackReason { reasons[reason, default: 0] += 1 } }
            let fallbacks = reasons.isEmpty ? "0" : reasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append(
                String(
                    format: "%-5@ %5d  %6d  %-44@ %6d   %6d   %8.4f", tier == 0 ? "-" : "\(tier)", rows.count, rows.filter { !$0.ok }.count,
                    String(fallbacks.prefix(44)), percentile(latencies, 50), percentile(latencies, 95), rows.reduce(0) { $0 + $1.costUSD }))
        }
        let cost = jobs.reduce(0) { $0 + $1.costUSD }
        let claude = jobs.reduce(0) { $0 + $1.claudeCostUSD }
        lines.append(String(format: "total %5d jobs, cost %.4f USD; the same tokens on Claude: %.4f USD", jobs.count, cost, claude))
        if claude > 0 { lines.append(String(format: "saved against Claude alone: %.1f %%", (1 - cost / claude) * 100)) }
        return lines.joined(separator: "\n")
    }

    static func percentile(_ sorted: [Int], _ p: Double) -> Int {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
        return sorted[min(sorted.count - 1, max(0, rank))]
    }
}
