import Foundation
import JobProtocol
import RedisClient

extension Bench {
    /// Interactive requests through the gateway at a steady rate, first with shadow labels
    /// off, then with every accepted answer sampled (`[shadow] sample_rate = 1`): the shadow
    /// work (Claude's answer and two judge calls per sampled answer, run by the same worker
    /// whenever tier 1 is idle) must not slow the requests it samples. A warm-up series runs
    /// first and is not reported.
    func shadow(_ rig: BenchRig) async throws -> ScenarioReport {
        var report = ScenarioReport(
            scenario: "shadow",
            parameters: [
                "requests": "\(options.shadowRate)/s for \(options.shadowSeconds) s", "simulator_latency": "\(options.shadowLatencyMs) ms",
                "workers": "1",
            ])
        try await rig.startSimulator(latencyMs: options.shadowLatencyMs)
        let (_, gateway) = try await rig.startGateway()
        let url = gateway + "/v1/chat/completions"
        let total = max(1, Int(options.shadowRate * options.shadowSeconds))
        func labels() async throws -> Int { try await rig.redis.send("XLEN", RedisArgument(rig.keys.outcomes)).integer ?? 0 }
        func series(_ label: String, sampled: Bool, run: Int, requests: Int) async throws -> (outcome: LoadOutcome, labels: Int) {
            let config = sampled ? "[shadow]\nsample_rate = 1.0\ndaily_budget_usd = 1000.0\n" : "[shadow]\nsample_rate = 0.0\n"
            let workers = try await rig.startWorkers(1, queues: "tier1,fallback", concurrency: 64, config: config)
            let before = try await labels()
            let outcome = await rig.chatCalls(url, label: label, total: requests, rate: options.shadowRate) {
                "Explain queues, question \(run)-\($0)."
            }
            let written = try await labels() - before
            if sampled, written == 0 {
                // A short series can end before the first shadow pass (one a second): the
                // labels must still come, a little later.
                let deadline = ContinuousClock.now + .seconds(20)
                while try await labels() == before, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
                if try await labels() == before { throw BenchError("no shadow label was written within 20 s of the sampled series") }
            }
            for worker in workers { await worker.stop() }
            try Self.check(outcome, what: label)
            return (outcome, written)
        }
        _ = try await series("warm-up", sampled: false, run: 0, requests: min(total, 50))
        let off = try await series("shadow off", sampled: false, run: 1, requests: total)
        let on = try await series("every answer sampled", sampled: true, run: 2, requests: total)
        let p99Ratio = on.outcome.samples.p99 / max(off.outcome.samples.p99, 1e-9)
        report.add("p50, shadow off", off.outcome.samples.p50, "ms")
        report.add("p99, shadow off", off.outcome.samples.p99, "ms")
        report.add("p50, every answer sampled", on.outcome.samples.p50, "ms", baseline: ("off", off.outcome.samples.p50))
        report.add(
            "p99, every answer sampled", on.outcome.samples.p99, "ms", baseline: ("off", off.outcome.samples.p99), target: "≤ 1.2× off",
            met: p99Ratio <= 1.2)
        report.add("shadow labels written during the series", Double(on.labels), "labels")
        report.notes.append(
            "each sampled answer costs a shadow pass three Claude calls (its answer, then a judge call for each answer); the labels "
                + "written while the series ran show the shadow work ran beside the requests (\(on.labels) of \(total))")
        return report
    }
}
