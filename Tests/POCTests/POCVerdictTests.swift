import Testing

@testable import POC

/// The report's rule (5.2, 9.3) and its boundaries.
@Suite struct POCVerdictTests {
    func verdict(simple: Int, p95: Int?, medium: Int = 8) -> POCVerdict {
        POCVerdict.decide(simplePassed: simple, simpleTotal: 10, mediumPassed: medium, mediumTotal: 8, smallP95Ms: p95)
    }

    @Test func eightOfTenSimpleTasksIsEnoughAndSevenIsNot() {
        #expect(verdict(simple: 8, p95: 500).isGo)
        #expect(verdict(simple: 10, p95: 500).word == "GO")
        let stop = verdict(simple: 7, p95: 500)
        #expect(!stop.isGo)
        #expect(stop.word == "STOP")
        #expect(
            stop.criteria[0]
                == .init(name: "simple_tasks", level: .mustHave, passed: false, measured: "7/10 scored >= 4", target: "at least 8/10 scoring >= 4"))
    }

    @Test func theP95MustBeUnderTwoSeconds() {
        #expect(verdict(simple: 10, p95: 1_999).isGo)
        #expect(!verdict(simple: 10, p95: 2_000).isGo)
        #expect(!verdict(simple: 10, p95: nil).isGo)
        #expect(verdict(simple: 10, p95: nil).criteria[1].measured == "no answer")
    }

    @Test func mediumTasksAreANiceToHaveThatDoesNotDecide() {
        let go = verdict(simple: 9, p95: 800, medium: 4)
        #expect(go.isGo)
        #expect(
            go.criteria[2]
                == .init(name: "medium_tasks", level: .niceToHave, passed: false, measured: "4/8 scored >= 4", target: "at least 5/8 scoring >= 4"))
        #expect(verdict(simple: 9, p95: 800, medium: 5).criteria[2].passed)
        #expect(!verdict(simple: 7, p95: 800, medium: 8).isGo)
    }

    @Test func otherTaskCountsKeepTheReportsShares() {
        #expect(POCVerdict.simpleNeeded(of: 10) == 8)
        #expect(POCVerdict.simpleNeeded(of: 1) == 1)
        #expect(POCVerdict.simpleNeeded(of: 5) == 4)
        #expect(POCVerdict.simpleNeeded(of: 20) == 16)
        #expect(POCVerdict.mediumNeeded(of: 8) == 5)
        #expect(POCVerdict.mediumNeeded(of: 16) == 10)
        #expect(POCVerdict.mediumNeeded(of: 3) == 2)
        #expect(!POCVerdict.decide(simplePassed: 0, simpleTotal: 0, mediumPassed: 0, mediumTotal: 0, smallP95Ms: 10).isGo)
    }

    @Test func p95IsTheNearestRank() {
        #expect(POCVerdict.p95([]) == nil)
        #expect(POCVerdict.p95([7]) == 7)
        // 18 answers: 95% of them is 17.1, so the 18th, the slowest, is the p95.
        #expect(POCVerdict.p95(Array(1...17) + [3_000]) == 3_000)
        #expect(POCVerdict.p95(Array(1...20)) == 19)
        #expect(POCVerdict.p95((1...100).reversed()) == 95)
    }
}
