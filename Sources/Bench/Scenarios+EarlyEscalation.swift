import Foundation
import JobProtocol

extension Bench {
    /// One early-escalation series: the small model answers unsure (`#sim openai
    /// logprob=-2.5`) at the scenario's pace, so every job falls back to Claude, whose answer
    /// streams live. `early`: the shipped setting (escalate once the running confidence is
    /// clearly low after `early_escalation_tokens`); otherwise `early_escalation_tokens = 0`,
    /// which waits for the whole small answer before falling back.
    func escalation(_ rig: BenchRig, load: StreamLoad, setting: StreamSetting, early: Bool) async throws -> StreamOutcome {
        let config = "[tier1]\nstream_mode = \"verified\"\n" + (early ? "" : "early_escalation_tokens = 0\n")
        let worker = try await rig.startWorkers(1, queues: "fallback,tier1", concurrency: options.escalationWindow + 16, config: config)[0]
        let label = early ? "early escalation on" : "early escalation off"
        let outcome = await load.run(
            label: label, total: options.escalationRequests, window: options.escalationWindow, warmUp: 0, stagger: .zero, url: setting.pooledURL,
            body: setting.body(
                early ? "e" : "w", asWorker: false, words: options.escalationAnswerWords,
                directives: ["openai logprob=-2.5", "token_ms=\(options.tokenMs)"]))
        await worker.stop()
        try Self.check(outcome, what: label)
        for result in try await rig.committedResults(outcome.jobIDs) {
            let metadata = result.metadata
            let escalatedEarly = metadata?.fallbackReason == "low_confidence_early"
            guard result.ok, metadata?.fallback == true, escalatedEarly == early else {
                throw BenchError(
                    "\(label): job \(result.id) did not fall back as the series needs: fallback \(metadata?.fallback ?? false), reason "
                        + "\(metadata?.fallbackReason ?? "-"), model \(metadata?.modelUsed ?? "-"), error \(result.error?.code ?? "-")")
            }
        }
        return outcome
    }

    func addEscalation(early: StreamOutcome, late: StreamOutcome, to report: inout ScenarioReport) {
        let saved = late.complete.p50 - early.complete.p50
        report.add(
            "whole answer via Claude p50, early escalation on", early.complete.p50, "ms", baseline: ("early escalation off", late.complete.p50))
        report.add("saved by early escalation, p50", saved, "ms")
        report.add("Claude's first token p50, early escalation on", early.firstToken.p50, "ms", baseline: ("off", late.firstToken.p50))
        report.notes.append(
            "early escalation: \(early.streams) requests per series, \(options.escalationWindow) at once, answers of about "
                + "\(options.escalationAnswerWords + 25) tokens at \(options.tokenMs) ms from both models; every job checked to have fallen back "
                + "(reason low_confidence_early only with early escalation on)")
    }
}
