import Foundation

extension POCReport {
    /// What `cervella poc` prints: a row per task, the criteria with pass or fail, the costs,
    /// problems by task (never a prompt or an answer), and the verdict.
    public func text() -> String {
        let idWidth = min(28, max(4, results.map(\.task.id.count).max() ?? 4))
        var lines = [
            Self.pad("task", idWidth) + "  category  small ms  score  claude ms  claude score"
        ]
        for result in results {
            lines.append(
                Self.pad(Self.cut(result.task.id, idWidth), idWidth) + "  " + Self.pad(result.task.category.rawValue, 8)
                    + Self.left(Self.latency(result.small), 10) + Self.left(Self.score(result.small), 7)
                    + Self.left(Self.latency(result.claude), 11) + Self.left(Self.score(result.claude), 14))
        }
        lines.append("")
        for criterion in summary.verdict.criteria {
            lines.append(
                Self.pad(Self.label(criterion.name), 24) + Self.pad(criterion.measured, 20) + Self.pad("(target: \(criterion.target))", 38)
                    + (criterion.passed ? "PASS" : "FAIL") + "  " + (criterion.level == .mustHave ? "must-have" : "nice-to-have"))
        }
        lines.append(
            "cost per answer         small model \(Self.usd(summary.smallCostPerAnswerUSD)) (GPU hour amortised), "
                + "Claude \(Self.usd(summary.claudeCostPerAnswerUSD)) (tokens)")
        lines.append(
            "cost of this run        small model \(Self.usd(summary.smallCostUSD)), Claude \(Self.usd(summary.claudeCostUSD)), "
                + "judge \(Self.usd(summary.judgeCostUSD))")
        let problems = self.problems
        if !problems.isEmpty {
            lines.append("")
            lines += problems
        }
        lines.append("")
        lines.append("verdict: \(verdictSentence)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// "GO: every must-have is met (report 9.3)…", or what failed.
    public var verdictSentence: String {
        let verdict = summary.verdict
        let failed = verdict.criteria.filter { $0.level == .mustHave && !$0.passed }.map { Self.label($0.name) }
        let medium = verdict.criteria.first { $0.level == .niceToHave }
        let nice = medium.map { "; the nice-to-have, \(Self.label($0.name)), is \($0.passed ? "met" : "not met") and does not decide" } ?? ""
        var sentence =
            verdict.isGo
            ? "GO: every must-have of report 9.3 is met\(nice)"
            : "STOP: must-have not met: \(failed.joined(separator: ", "))\(nice)"
        let unjudged = summary.unjudged
        if unjudged > 0 {
            sentence +=
                ". \(unjudged) answer\(unjudged == 1 ? "" : "s") of the small model could not be judged and count\(unjudged == 1 ? "s" : "") as failed"
            if summary.verdictHangsOnUnjudged { sentence += "; scoring them could turn the verdict to GO" }
        }
        return sentence
    }

    /// One line per failed call or judgement, by task id and side.
    var problems: [String] {
        var lines: [String] = []
        for result in results {
            for (side, answer) in [("small model", result.small), ("Claude", result.claude)] {
                if let error = answer.error { lines.append("\(result.task.id): \(side) failed: \(error)") }
                if let error = answer.judgement?.error { lines.append("\(result.task.id): \(side)'s answer not judged: \(error)") }
            }
        }
        return lines
    }

    static func label(_ name: String) -> String {
        switch name {
        case "simple_tasks": return "simple tasks"
        case "small_p95_latency": return "small-model p95 latency"
        case "medium_tasks": return "medium tasks"
        default: return name
        }
    }

    static func latency(_ answer: POCAnswer) -> String { answer.text == nil ? "error" : "\(answer.latencyMs)" }

    static func score(_ answer: POCAnswer) -> String {
        if let score = answer.judgement?.score { return "\(score)" }
        return answer.judgement?.error != nil ? "?" : "-"
    }

    static func usd(_ value: Double?) -> String { value.map { String(format: "$%.6f", $0) } ?? "-" }

    /// `text` padded to `width`; a longer text keeps one space after it.
    static func pad(_ text: String, _ width: Int) -> String {
        text.count > width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    /// `text` aligned right in `width`; a longer text keeps one space before it.
    static func left(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }

    static func cut(_ text: String, _ width: Int) -> String {
        text.count > width ? String(text.prefix(width - 1)) + "…" : text
    }
}
