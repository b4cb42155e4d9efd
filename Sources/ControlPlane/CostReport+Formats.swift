import Foundation
import JobProtocol

/// The cost report as JSON, CSV (RFC 4180) and a text table: the same figures in each, money
/// to six decimals (a millionth of a dollar) in JSON and CSV, four in the table.
extension CostReport {
    static func round(_ value: Double, _ places: Double = 6) -> Double {
        (value * pow(10, places)).rounded() / pow(10, places)
    }

    static func count(_ value: Double) -> Int { Int(saturating: value.rounded()) }

    /// The report's JSON; keys are stable and documented in docs/OPERATIONS.md ("Cost reports").
    public func json() -> [String: Any] {
        func rowJSON(_ row: Row) -> [String: Any] {
            [
                "provider": row.provider, "tier": row.tier.number, "model": row.model, "requests": Self.count(row.requests),
                "calls": Self.count(row.calls), "tokens_input": Self.count(row.tokensInput), "tokens_output": Self.count(row.tokensOutput),
                "cost_usd": Self.round(row.costUSD), "gpu_hours": Self.round(row.gpuHours, 4), "gpu_cost_usd": Self.round(row.gpuCostUSD),
            ]
        }
        let total = totalRow
        return [
            "period": [
                "kind": window.period.rawValue, "from": window.firstDay, "to": window.lastDay, "hours": window.hours.count,
                "hours_with_data": hoursWithData,
            ],
            "rows": rows.map(rowJSON),
            "totals": [
                "requests_routed": Self.count(requestsRouted), "requests": Self.count(total.requests), "calls": Self.count(total.calls),
                "tokens_input": Self.count(total.tokensInput), "tokens_output": Self.count(total.tokensOutput), "cost_usd": Self.round(costUSD),
                "gpu_hours": Self.round(total.gpuHours, 4), "gpu_cost_usd": Self.round(total.gpuCostUSD),
            ],
            "fallback": [
                "hops": Self.count(fallbacks), "cost_usd": Self.round(fallbackCostUSD),
                "suppressed_by_budget": Self.count(fallbacksSuppressedByBudget),
            ],
            "cache": ["hits": Self.count(cacheHits), "saved_usd": Self.round(cacheSavedUSD)],
            "single_flight": ["hits": Self.count(coalescedHits), "saved_usd": Self.round(coalescedSavedUSD)],
            "message_batches": ["answers": Self.count(messageBatchAnswers), "saved_usd": Self.round(messageBatchSavedUSD)],
            "claude_only": [
                "cost_usd": Self.round(claudeOnlyUSD), "saving_usd": Self.round(savingUSD),
                "saving_pct": savingPercent.map { Self.round($0, 1) } ?? NSNull(),
            ],
            "projection": projection.map { projection -> Any in
                [
                    "elapsed_fraction": Self.round(projection.elapsedFraction, 4), "month_cost_usd": Self.round(projection.monthCostUSD),
                    "budget_usd": Self.round(projection.budgetUSD), "over_budget": projection.overBudget,
                ]
            } ?? NSNull(),
        ]
    }

    /// The rows summed: the window's calls, tokens and GPU time; the cost is the pool-wide `cost_usd`.
    public var totalRow: Row {
        Row(
            provider: "", tier: .tier1, model: "", requests: rows.map(\.requests).reduce(0, +), calls: rows.map(\.calls).reduce(0, +),
            tokensInput: rows.map(\.tokensInput).reduce(0, +), tokensOutput: rows.map(\.tokensOutput).reduce(0, +), costUSD: costUSD,
            gpuHours: rows.map(\.gpuHours).reduce(0, +), gpuCostUSD: rows.map(\.gpuCostUSD).reduce(0, +))
    }

    /// The CSV header: every row carries the window; `row` says what the row is (docs/OPERATIONS.md).
    public static let csvColumns = [
        "from", "to", "row", "provider", "tier", "model", "requests", "calls", "tokens_input", "tokens_output", "cost_usd", "gpu_hours",
        "gpu_cost_usd", "saved_usd", "budget_usd",
    ]

    /// A header, one `model` row per provider, tier and model, a `total` row, then one row per
    /// figure (`fallback`, `fallback_suppressed_budget`, `cache`, `single_flight`,
    /// `message_batches`, `claude_only`, and `projection` in a monthly report). CRLF line ends.
    public func csv() -> String {
        func money(_ value: Double) -> String { String(format: "%.6f", Self.round(value)) }
        func integer(_ value: Double) -> String { String(Self.count(value)) }
        var lines = [Self.csvColumns]
        func figure(_ row: String, requests: Double? = nil, cost: Double? = nil, saved: Double? = nil, budget: Double? = nil) {
            lines.append(
                [
                    window.firstDay, window.lastDay, row, "", "", "", requests.map(integer) ?? "", "", "", "", cost.map(money) ?? "", "", "",
                    saved.map(money) ?? "", budget.map(money) ?? "",
                ])
        }
        for row in rows + [totalRow] {
            let isTotal = row.model.isEmpty
            lines.append([
                window.firstDay, window.lastDay, isTotal ? "total" : "model", row.provider, isTotal ? "" : String(row.tier.number), row.model,
                integer(row.requests), integer(row.calls), integer(row.tokensInput), integer(row.tokensOutput), money(row.costUSD),
                String(format: "%.4f", Self.round(row.gpuHours, 4)), money(row.gpuCostUSD), "", "",
            ])
        }
        figure("fallback", requests: fallbacks, cost: fallbackCostUSD)
        figure("fallback_suppressed_budget", requests: fallbacksSuppressedByBudget)
        figure("cache", requests: cacheHits, saved: cacheSavedUSD)
        figure("single_flight", requests: coalescedHits, saved: coalescedSavedUSD)
        figure("message_batches", requests: messageBatchAnswers, saved: messageBatchSavedUSD)
        figure("claude_only", cost: claudeOnlyUSD, saved: savingUSD)
        if let projection { figure("projection", cost: projection.monthCostUSD, budget: projection.budgetUSD) }
        return lines.map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled.
    static func csvField(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The report as a table for people.
    public func text() -> String {
        func money(_ value: Double) -> String { (value < 0 ? "-$" : "$") + String(format: "%.4f", abs(value)) }
        // A model name from Redis may hold anything: no control characters reach the terminal.
        func printable(_ text: String) -> String {
            String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }).prefix(40))
        }
        let header = ["provider", "tier", "model", "requests", "calls", "tokens in", "tokens out", "cost USD", "GPU hours", "GPU USD"]
        var table = [header]
        for row in rows + [totalRow] {
            let isTotal = row.model.isEmpty
            table.append([
                isTotal ? "total" : row.provider, isTotal ? "" : String(row.tier.number), printable(row.model), String(Self.count(row.requests)),
                String(Self.count(row.calls)), String(Self.count(row.tokensInput)), String(Self.count(row.tokensOutput)),
                String(format: "%.4f", row.costUSD), row.gpuHours > 0 ? String(format: "%.3f", row.gpuHours) : "-",
                row.gpuHours > 0 ? String(format: "%.4f", row.gpuCostUSD) : "-",
            ])
        }
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        let lines = table.map { cells in
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column < 3 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        var text = [
            "Cervella cost report, \(window.period.rawValue): \(window.firstDay) to \(window.lastDay) (UTC), "
                + "\(hoursWithData) of \(window.hours.count) hours with traffic",
            "",
        ]
        text += lines
        text.append("")
        text.append(
            "fallback         \(Self.count(fallbacks)) hops, cost \(money(fallbackCostUSD)), \(Self.count(fallbacksSuppressedByBudget)) suppressed by the budget"
        )
        text.append("cache            \(Self.count(cacheHits)) hits, saved \(money(cacheSavedUSD))")
        text.append("single-flight    \(Self.count(coalescedHits)) coalesced, saved \(money(coalescedSavedUSD))")
        text.append("message batches  \(Self.count(messageBatchAnswers)) answers, saved \(money(messageBatchSavedUSD))")
        let percent = savingPercent.map { String(format: " (%.1f%%)", $0) } ?? ""
        text.append("Claude-only      \(money(claudeOnlyUSD)): saving \(money(savingUSD))\(percent)")
        if let projection {
            let verdict = projection.overBudget ? "OVER budget" : "within budget"
            text.append(
                "projection       \(money(projection.monthCostUSD)) for the month (\(String(format: "%.1f", projection.elapsedFraction * 100))% elapsed), "
                    + "budget \(money(projection.budgetUSD)): \(verdict)")
        }
        return text.joined(separator: "\n") + "\n"
    }
}
