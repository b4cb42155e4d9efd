import Foundation
import JobProtocol
import Scoring

extension POCReport {
    /// `poc-report.json`: the whole comparison, indented, keys sorted.
    public func json() -> String {
        var writer = JSONWriter(capacity: 16_384)
        writer.object { w in
            w.key("v")
            w.int(1)
            w.key("verdict")
            w.string(summary.verdict.word)
            w.key("criteria")
            w.array(summary.verdict.criteria) { w, criterion in
                w.object { c in
                    c.key("name")
                    c.string(criterion.name)
                    c.key("level")
                    c.string(criterion.level.rawValue)
                    c.key("passed")
                    c.bool(criterion.passed)
                    c.key("measured")
                    c.string(criterion.measured)
                    c.key("target")
                    c.string(criterion.target)
                }
            }
            w.key("not_measured")
            w.array(Self.notMeasured) { $0.string($1) }
            w.key("summary")
            writeSummary(&w)
            w.key("run")
            w.object { r in
                r.key("tasks_file")
                r.string(tasksFile)
                r.key("judge")
                r.string(judge)
                r.key("small_model")
                r.string(smallModel)
                r.key("claude_model")
                r.string(claudeModel)
                r.key("started_at")
                r.double(startedAt)
                r.key("finished_at")
                r.double(finishedAt)
                r.key("concurrency")
                r.int(concurrency)
            }
            w.key("tasks")
            w.array(results) { w, result in Self.write(result, to: &w) }
        }
        let compact = Data(writer.bytes)
        guard let object = try? JSONSerialization.jsonObject(with: compact),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return String(decoding: compact, as: UTF8.self) + "\n" }
        return String(decoding: pretty, as: UTF8.self) + "\n"
    }

    /// The report's must-haves (9.3) that a command run cannot measure.
    public static let notMeasured = [
        "peak VRAM under 20 GB (read it on the GPU host, e.g. nvidia-smi --query-gpu=memory.used --format=csv -l 1)",
        "the whole POC under $100 (the GPU host's invoice and Anthropic's usage page)",
    ]

    private func writeSummary(_ w: inout JSONWriter) {
        let s = summary
        w.object { o in
            for (name, total, passed, needed) in [
                ("simple", s.simpleTotal, s.simplePassed, POCVerdict.simpleNeeded(of: s.simpleTotal)),
                ("medium", s.mediumTotal, s.mediumPassed, POCVerdict.mediumNeeded(of: s.mediumTotal)),
            ] {
                o.key(name)
                o.object { c in
                    c.key("total")
                    c.int(total)
                    c.key("passed")
                    c.int(passed)
                    c.key("needed")
                    c.int(needed)
                }
            }
            let counts: [(String, Int?)] = [
                ("small_answered", s.smallAnswered), ("claude_answered", s.claudeAnswered), ("unjudged", s.unjudged),
                ("small_p50_ms", s.smallP50Ms), ("small_p95_ms", s.smallP95Ms), ("claude_p50_ms", s.claudeP50Ms), ("claude_p95_ms", s.claudeP95Ms),
            ]
            for (name, value) in counts {
                o.key(name)
                o.int(value)
            }
            let costs: [(String, Double?)] = [
                ("small_cost_per_answer_usd", s.smallCostPerAnswerUSD), ("claude_cost_per_answer_usd", s.claudeCostPerAnswerUSD),
                ("small_cost_usd", s.smallCostUSD), ("claude_cost_usd", s.claudeCostUSD), ("judge_cost_usd", s.judgeCostUSD),
                ("total_cost_usd", s.totalCostUSD),
            ]
            for (name, value) in costs {
                o.key(name)
                o.double(value)
            }
        }
    }

    private static func write(_ result: POCResult, to w: inout JSONWriter) {
        w.object { t in
            t.key("id")
            t.string(result.task.id)
            t.key("category")
            t.string(result.task.category.rawValue)
            t.key("task_type")
            t.string(result.task.taskType)
            t.key("expected_format")
            t.string(result.task.expectedFormat)
            t.key("prompt")
            t.string(result.task.prompt)
            t.key("passed")
            t.bool(result.small.passed)
            t.key("small")
            write(result.small, to: &t) { a in
                a.key("confidence")
                a.double(result.confidence)
                a.key("features")
                if let features = result.features { features.write(to: &a) } else { a.null() }
            }
            t.key("claude")
            write(result.claude, to: &t) { _ in }
        }
    }

    private static func write(_ answer: POCAnswer, to w: inout JSONWriter, extra: (inout JSONWriter) -> Void) {
        w.object { a in
            a.key("model")
            a.string(answer.model)
            a.key("answer")
            a.string(answer.text)
            a.key("error")
            a.string(answer.error)
            a.key("latency_ms")
            a.int(answer.latencyMs)
            a.key("tokens_input")
            a.int(answer.tokensInput)
            a.key("tokens_output")
            a.int(answer.tokensOutput)
            a.key("tokens_cached_input")
            a.int(answer.tokensCachedInput)
            a.key("cost_usd")
            a.double(answer.costUSD)
            a.key("score")
            a.int(answer.judgement?.score)
            a.key("reason")
            a.string(answer.judgement?.reason)
            a.key("judge_error")
            a.string(answer.judgement?.error)
            a.key("judge_cost_usd")
            a.double(answer.judgement?.costUSD ?? 0)
            extra(&a)
        }
    }
}
