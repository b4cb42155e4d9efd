/// A finished POC run: every task's comparison, the figures the report asks for, and the verdict.
public struct POCReport: Sendable, Equatable {
    public var results: [POCResult]
    public var tasksFile: String
    /// Who scored: the Claude model, or the human judge's file.
    public var judge: String
    public var smallModel: String
    public var claudeModel: String
    /// Unix seconds.
    public var startedAt: Double
    public var finishedAt: Double
    public var concurrency: Int
    public var summary: POCSummary

    public init(
        results: [POCResult], tasksFile: String, judge: String, smallModel: String, claudeModel: String, startedAt: Double, finishedAt: Double,
        concurrency: Int
    ) {
        self.results = results
        self.tasksFile = tasksFile
        self.judge = judge
        self.smallModel = smallModel
        self.claudeModel = claudeModel
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.concurrency = concurrency
        self.summary = POCSummary(results)
    }
}

/// The figures of a run: pass counts, latency, cost, and the verdict they give.
public struct POCSummary: Sendable, Equatable {
    public var simpleTotal = 0
    public var simplePassed = 0
    public var mediumTotal = 0
    public var mediumPassed = 0
    public var smallAnswered = 0
    public var claudeAnswered = 0
    /// Answers the judge could not score (its call failed, its reply was unreadable, or a
    /// human judge's file has no score): they count as not passing.
    public var unjudged = 0
    /// Of those, the simple tasks' (the ones that could still change the verdict).
    public var unjudgedSimple = 0
    /// Over answered calls; a failed call fails its task instead.
    public var smallP95Ms: Int?
    public var smallP50Ms: Int?
    public var claudeP95Ms: Int?
    public var claudeP50Ms: Int?
    /// Mean cost of an answer: the small model's tier prices GPU hours over requests, Claude's
    /// its tokens.
    public var smallCostPerAnswerUSD: Double?
    public var claudeCostPerAnswerUSD: Double?
    public var smallCostUSD = 0.0
    public var claudeCostUSD = 0.0
    public var judgeCostUSD = 0.0
    public var verdict: POCVerdict

    public init(_ results: [POCResult]) {
        var smallLatencies: [Int] = []
        var claudeLatencies: [Int] = []
        var smallAnswerCost = 0.0
        var claudeAnswerCost = 0.0
        for result in results {
            let passed = result.small.passed
            switch result.task.category {
            case .simple:
                simpleTotal += 1
                if passed { simplePassed += 1 }
            case .medium:
                mediumTotal += 1
                if passed { mediumPassed += 1 }
            }
            if result.small.text != nil {
                smallAnswered += 1
                smallLatencies.append(result.small.latencyMs)
                smallAnswerCost += result.small.costUSD
                if result.small.judgement?.score == nil {
                    unjudged += 1
                    if result.task.category == .simple { unjudgedSimple += 1 }
                }
            }
            if result.claude.text != nil {
                claudeAnswered += 1
                claudeLatencies.append(result.claude.latencyMs)
                claudeAnswerCost += result.claude.costUSD
            }
            smallCostUSD += result.small.costUSD
            claudeCostUSD += result.claude.costUSD
            judgeCostUSD += (result.small.judgement?.costUSD ?? 0) + (result.claude.judgement?.costUSD ?? 0)
        }
        smallP95Ms = POCVerdict.p95(smallLatencies)
        claudeP95Ms = POCVerdict.p95(claudeLatencies)
        smallP50Ms = Self.median(smallLatencies)
        claudeP50Ms = Self.median(claudeLatencies)
        smallCostPerAnswerUSD = smallAnswered > 0 ? smallAnswerCost / Double(smallAnswered) : nil
        claudeCostPerAnswerUSD = claudeAnswered > 0 ? claudeAnswerCost / Double(claudeAnswered) : nil
        verdict = POCVerdict.decide(
            simplePassed: simplePassed, simpleTotal: simpleTotal, mediumPassed: mediumPassed, mediumTotal: mediumTotal, smallP95Ms: smallP95Ms)
    }

    public var totalCostUSD: Double { smallCostUSD + claudeCostUSD + judgeCostUSD }

    /// A STOP that scores for the unjudged simple answers could turn into a GO.
    public var verdictHangsOnUnjudged: Bool {
        guard !verdict.isGo, smallP95Ms.map({ $0 < POCVerdict.latencyLimitMs }) == true else { return false }
        return simplePassed < POCVerdict.simpleNeeded(of: simpleTotal) && simplePassed + unjudgedSimple >= POCVerdict.simpleNeeded(of: simpleTotal)
    }

    /// The nearest-rank median.
    static func median(_ values: [Int]) -> Int? {
        guard !values.isEmpty else { return nil }
        return values.sorted()[(values.count + 1) / 2 - 1]
    }
}
