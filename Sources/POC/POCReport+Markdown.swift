import Foundation

extension POCReport {
    /// `poc-report.md`: the verdict with its criteria, the figures, a table of the tasks, and
    /// each task with both answers and the judge's reasons, for people deciding GO or STOP.
    public func markdown() -> String {
        let s = summary
        var md: [String] = []
        md.append("# POC report: \(s.verdict.word)")
        md.append("")
        md.append(
            "`\(smallModel)` (tier 1) against `\(claudeModel)` (tier 3) on \(results.count) tasks from `\(tasksFile)`, "
                + "each answer judged by \(judge). Started \(Self.timestamp(startedAt)), took "
                + String(format: "%.1f", max(0, finishedAt - startedAt)) + " s, \(concurrency) tasks at a time.")
        md.append("")
        md.append("## Verdict (report 5.2 and 9.3)")
        md.append("")
        md.append("| criterion | level | measured | target | result |")
        md.append("| --- | --- | --- | --- | --- |")
        for c in s.verdict.criteria {
            md.append(
                "| \(Self.label(c.name)) | \(c.level == .mustHave ? "must-have" : "nice-to-have") | \(c.measured) | \(c.target) | "
                    + "\(c.passed ? "PASS" : "FAIL") |")
        }
        md.append("")
        md.append("**\(verdictSentence).**")
        md.append("")
        md.append("Not measured by this run (must-haves of report 9.3): " + Self.notMeasured.joined(separator: "; ") + ".")
        md.append("")
        md.append("## Figures")
        md.append("")
        md.append("| | small model | Claude |")
        md.append("| --- | --- | --- |")
        md.append("| answered | \(s.smallAnswered)/\(results.count) | \(s.claudeAnswered)/\(results.count) |")
        md.append("| p50 latency | \(Self.ms(s.smallP50Ms)) | \(Self.ms(s.claudeP50Ms)) |")
        md.append("| p95 latency | \(Self.ms(s.smallP95Ms)) | \(Self.ms(s.claudeP95Ms)) |")
        md.append(
            "| cost per answer | \(Self.usd(s.smallCostPerAnswerUSD)) (GPU hour amortised) | \(Self.usd(s.claudeCostPerAnswerUSD)) (tokens) |")
        md.append("| cost of this run | \(Self.usd(s.smallCostUSD)) | \(Self.usd(s.claudeCostUSD)) |")
        md.append("")
        md.append("The judge cost \(Self.usd(s.judgeCostUSD)); the whole run \(Self.usd(s.totalCostUSD)).")
        md.append("")
        md.append("## Tasks")
        md.append("")
        md.append("| task | category | small ms | score | confidence | Claude ms | Claude score |")
        md.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for r in results {
            md.append(
                "| [\(Self.cell(r.task.id))](#\(Self.anchor(r.task.id))) | \(r.task.category.rawValue) | \(Self.latency(r.small)) | "
                    + "\(Self.score(r.small)) | \(r.confidence.map { String(format: "%.2f", $0) } ?? "-") | \(Self.latency(r.claude)) | "
                    + "\(Self.score(r.claude)) |")
        }
        let problems = self.problems
        if !problems.isEmpty {
            md.append("")
            md.append("Problems:")
            md.append("")
            md += problems.map { "- " + Self.cell($0) }
        }
        md.append("")
        md.append("## Answers")
        for r in results {
            md.append("")
            md.append("### \(r.task.id)")
            md.append("")
            let format = r.task.expectedFormat.map { ", expected format \($0)" } ?? ""
            md.append("\(r.task.category.rawValue) task (task type `\(r.task.taskType)`\(format)):")
            md.append("")
            md += Self.fenced(r.task.prompt)
            for (answer, extra) in [(r.small, r.confidence.map { String(format: ", confidence %.2f", $0) } ?? ""), (r.claude, "")] {
                md.append("")
                md.append("**\(answer.model)**: \(Self.describe(answer))\(extra)")
                md.append("")
                if let text = answer.text { md += Self.fenced(text) } else { md.append("_no answer: \(Self.cell(answer.error ?? "failed"))_") }
            }
        }
        return md.joined(separator: "\n") + "\n"
    }

    /// "123 ms, 45 tokens out, score 4: reason".
    static func describe(_ answer: POCAnswer) -> String {
        var text = "\(answer.latencyMs) ms, \(answer.tokensOutput) tokens out, \(usd(answer.costUSD))"
        if let score = answer.judgement?.score {
            text += ", score **\(score)**: \(cell(answer.judgement?.reason ?? ""))"
        } else if let error = answer.judgement?.error {
            text += ", not judged: \(cell(error))"
        }
        return text
    }

    /// `text` in a fence longer than any run of backticks inside it, so that an answer with
    /// its own code blocks cannot end the block early.
    static func fenced(_ text: String) -> [String] {
        var longest = 0
        var run = 0
        for character in text {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: max(3, longest + 1))
        return [fence + "text", text, fence]
    }

    /// A table cell or an inline span: one line, pipes escaped.
    static func cell(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ").replacingOccurrences(of: "|", with: "\\|")
    }

    /// GitHub's heading anchor for a task id (letters, digits, `-` and `_` kept, lower-cased).
    static func anchor(_ id: String) -> String {
        String(id.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    static func ms(_ value: Int?) -> String { value.map { "\($0) ms" } ?? "-" }

    static func timestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
