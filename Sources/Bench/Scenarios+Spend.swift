import CurlHTTP
import Foundation
import JobProtocol
import RedisClient

extension Bench {
    /// Identical requests at once through the gateway, first with single-flight on (the
    /// default), then off: the provider calls each series made, from the simulator's counts.
    /// Every request is sent before the first answer can come back (the simulator takes
    /// `singleFlightLatencyMs`), so the cache alone cannot help.
    func singleFlight(_ rig: BenchRig) async throws -> ScenarioReport {
        let requests = options.singleFlightRequests
        var report = ScenarioReport(
            scenario: "single-flight",
            parameters: [
                "requests": "\(requests) identical, all at once", "simulator_latency": "\(options.singleFlightLatencyMs) ms",
                "workers": "1 (concurrency 256)",
            ])
        try await rig.startSimulator(latencyMs: options.singleFlightLatencyMs)
        func series(_ label: String, singleFlight: Bool, text: String) async throws -> (outcome: LoadOutcome, calls: Int) {
            let config = "[cache]\nsingle_flight = \(singleFlight)\n"
            let workers = try await rig.startWorkers(1, queues: "tier1,fallback", concurrency: 256, config: config)
            let (gateway, url) = try await rig.startGateway(config: config + "[gateway]\nmax_queue_length = 100000\n")
            let before = try await rig.simulatorCalls()
            let outcome = await rig.chatCalls(url + "/v1/chat/completions", label: label, total: requests, window: requests, model: "auto") { _ in
                text
            }
            let calls = try await rig.simulatorCalls() - before
            await gateway.stop()
            for worker in workers { await worker.stop() }
            try Self.check(outcome, what: label)
            return (outcome, calls)
        }
        let on = try await series("single-flight on", singleFlight: true, text: "Summarize the meeting notes of Monday.")
        let off = try await series("single-flight off", singleFlight: false, text: "Summarize the meeting notes of Tuesday.")
        report.add(
            "provider calls, single-flight on (default)", Double(on.calls), "calls", baseline: ("off", Double(off.calls)), target: "1",
            met: on.calls == 1)
        report.add("provider calls, single-flight off", Double(off.calls), "calls")
        report.add("p50, single-flight on", on.outcome.samples.p50, "ms", baseline: ("off", off.outcome.samples.p50))
        report.add("p99, single-flight on", on.outcome.samples.p99, "ms", baseline: ("off", off.outcome.samples.p99))
        report.notes.append(
            "with single-flight off every request that arrives before the first answer is cached makes its own call; on, they wait on "
                + "the first one's call and get its answer as coalesced: true")
        return report
    }

    /// Tier 1 slowed down: one worker answers tier 1 with `backlogConcurrency` slots, each
    /// answer taking `backlogLatencyMs`, while interactive requests come faster than that
    /// drains; each has a `backlogTimeoutSeconds` deadline. First with deadline-aware routing
    /// off (`routing.backlog_deadline_share = 0`): the queue grows and requests miss their
    /// deadline. Then with the default (0.5): a request the queue would make wait more than half
    /// its time goes straight to Claude (`tier1_backlog`), and p99 stays under the deadline.
    func backlog(_ rig: BenchRig) async throws -> ScenarioReport {
        let total = max(1, Int(options.backlogRate * options.backlogSeconds))
        let timeout = options.backlogTimeoutSeconds
        var report = ScenarioReport(
            scenario: "backlog",
            parameters: [
                "requests": "\(options.backlogRate)/s for \(options.backlogSeconds) s", "deadline": "\(timeout) s",
                "tier1": "1 worker, \(options.backlogConcurrency) slots, \(options.backlogLatencyMs) ms an answer",
                "claude": "1 worker, 64 slots, the same latency",
            ])
        try await rig.startSimulator(latencyMs: options.backlogLatencyMs)
        func series(_ label: String, share: Double, run: Int) async throws -> (outcome: LoadOutcome, claude: Int) {
            let workers =
                try await rig.startWorkers(1, queues: "tier1", concurrency: options.backlogConcurrency)
                + rig.startWorkers(1, queues: "fallback,tier3", concurrency: 64)
            let config = "[routing]\nbacklog_deadline_share = \(share)\n[gateway]\nrequest_timeout_seconds = \(timeout)\n"
            let (gateway, url) = try await rig.startGateway(config: config)
            let hour = RedisArgument(rig.keys.stats(hour: Self.hour()))
            let before = try await rig.redis.send("HGET", hour, "requests:tier3").integer ?? 0
            let outcome = await rig.chatCalls(url + "/v1/chat/completions", label: label, total: total, rate: options.backlogRate, model: "auto") {
                "Summarize note \(run)-\($0)."
            }
            // Let the last jobs drain, so the next series starts with an empty queue.
            let queue = RedisArgument(rig.keys.queue(.tier1))
            let deadline = ContinuousClock.now + .seconds(120)
            while try await rig.redis.send("LLEN", queue).integer ?? 0 > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
            try await Task.sleep(for: .seconds(2))
            let claude = (try await rig.redis.send("HGET", hour, "requests:tier3").integer ?? 0) - before
            await gateway.stop()
            for worker in workers { await worker.stop() }
            return (outcome, claude)
        }
        let off = try await series("deadline-aware routing off", share: 0, run: 1)
        let on = try await series("deadline-aware routing on (default)", share: 0.5, run: 2)
        try Self.check(on.outcome, what: "deadline-aware routing on")
        let deadlineMs = timeout * 1000
        report.add(
            "p99, deadline-aware routing on", on.outcome.samples.p99, "ms", baseline: ("off", off.outcome.samples.p99),
            target: "< \(Int(deadlineMs)) ms (the deadline)", met: on.outcome.samples.p99 < deadlineMs)
        report.add("p50, deadline-aware routing on", on.outcome.samples.p50, "ms", baseline: ("off", off.outcome.samples.p50))
        report.add("requests that missed their deadline, routing off", Double(off.outcome.failures), "requests")
        report.add("requests that missed their deadline, routing on", Double(on.outcome.failures), "requests")
        report.add("requests sent to Claude, routing on", Double(on.claude), "requests", baseline: ("off", Double(off.claude)))
        report.notes.append(
            "tier 1 drains \(Double(options.backlogConcurrency) * 1000 / Double(options.backlogLatencyMs)) jobs/s while "
                + "\(options.backlogRate) arrive each second; off, the queue's wait grows past the deadline (failed requests are 504s); "
                + "on, jobs that would wait over half their time go to Claude as tier1_backlog")
        return report
    }
}

extension BenchRig {
    /// Generation calls the simulator has answered (both wire formats).
    func simulatorCalls() async throws -> Int {
        let response = try await http.execute(HTTPRequest(url: simulatorURL + "/sim/stats", timeout: .seconds(5)))
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return object?["total"] as? Int ?? 0
    }
}
