import Scoring

extension POCReport {
    /// One labelled outcome per judged small-model answer (docs/ROUTING.md, "Labelled
    /// outcomes"): its confidence features, the gate's confidence, the judge's score, and
    /// Claude's score and both costs where known. An answer without a score (its judge failed)
    /// has no label, and a failed call no answer, so neither has a line.
    public func outcomes() -> [LabelledOutcome] {
        results.compactMap { result in
            guard let features = result.features, let score = result.small.judgement?.score else { return nil }
            let claudeScore = result.claude.judgement?.score
            return LabelledOutcome(
                id: result.task.id, source: .poc, at: finishedAt, tier: 1, model: result.small.model, taskType: result.task.taskType,
                features: features, confidence: result.confidence, good: LabelledOutcome.isGood(score: score), score: score,
                claudeGood: claudeScore.map(LabelledOutcome.isGood(score:)), claudeScore: claudeScore, smallCostUSD: result.small.costUSD,
                claudeCostUSD: result.claude.text == nil ? nil : result.claude.costUSD)
        }
    }

    /// `outcomes.jsonl`: one line each, newline-terminated.
    public func outcomesJSONL() -> String {
        outcomes().map { $0.jsonLine() + "\n" }.joined()
    }
}
