import Foundation
import JobProtocol
import RedisClient

extension Bench {
    /// Streams straight from the simulator and through the pool, in one run: what a `live`
    /// tier adds to the time to first token, what `verified` costs, what early escalation
    /// saves, and the gateway's Redis connections with few and many streams open.
    ///
    /// Every timed series streams answers of one length at one pace (`#sim token_ms`) from a
    /// simulator with no latency of its own, so the direct series is the baseline of the others.
    func streaming(_ rig: BenchRig) async throws -> ScenarioReport {
        var report = ScenarioReport(
            scenario: "streaming",
            parameters: [
                "streams": "\(options.streams)", "rounds": "\(options.streamRounds)", "token_ms": "\(options.tokenMs)",
                "simulator_latency": "0 ms", "escalation": "\(options.escalationRequests) requests, \(options.escalationWindow) at once",
                "held_streams": "\(options.fewHeldStreams) and \(options.manyHeldStreams) at \(options.heldTokenMs) ms a token",
            ])
        let simulator = try await rig.startSimulator(latencyMs: 0)
        // Held streams (below) may take longer to open on a loaded machine than a chat job's
        // default 60 s deadline; no timed series comes near it.
        let (gatewayProcess, gateway) = try await rig.startGateway(config: "[gateway]\nrequest_timeout_seconds = 300\n")
        let load = try StreamLoad(streams: max(options.streams, options.manyHeldStreams, options.escalationWindow), logger: logger)
        defer { load.shutdown() }
        let redisPID = await rig.redisServerPID()
        let setting = StreamSetting(
            model: rig.settings.tier(.tier1).model, run: String(UUID().uuidString.prefix(6).lowercased()),
            directURL: rig.simulatorURL + "/v1/chat/completions", pooledURL: gateway + "/v1/chat/completions")
        let processes = { (worker: ChildProcess?) -> [(name: String, pid: Int32)] in
            var list: [(name: String, pid: Int32)] = [("simulator", simulator.pid), ("gateway", gatewayProcess.pid)]
            if let worker { list.append(("worker", worker.pid)) }
            if let redisPID { list.append(("redis-server", redisPID)) }
            return list + [("load generator", getpid())]
        }

        // One stream alone: the answer's length and duration, to spread the first round's starts.
        let paced = ["token_ms=\(options.tokenMs)"]
        let probe = try await load.stream(
            url: setting.directURL, body: setting.body("probe", asWorker: true, words: options.streamAnswerWords, directives: paced)(0),
            timeout: .seconds(60))
        let stagger = Duration.milliseconds(probe.complete ?? 1000)
        let total = options.streams * (options.streamRounds + 1)
        let series = { (label: String, url: String, body: @escaping @Sendable (Int) -> Data, worker: ChildProcess?) async throws -> StreamSeries in
            let watch = CPUWatch(processes(worker))
            let outcome = await load.run(
                label: label, total: total, window: options.streams, warmUp: options.streams, stagger: stagger, url: url, body: body)
            let cpu = watch.summary()
            try Self.check(outcome, what: label)
            return StreamSeries(outcome: outcome, cpu: cpu)
        }

        let direct = try await series(
            "direct from the simulator", setting.directURL, setting.body("d", asWorker: true, words: options.streamAnswerWords, directives: paced),
            nil)
        let liveWorker = try await rig.startWorkers(1, concurrency: options.streams + 16, config: "[tier1]\nstream_mode = \"live\"\n")[0]
        let live = try await series(
            "through the pool, live", setting.pooledURL, setting.body("l", asWorker: false, words: options.streamAnswerWords, directives: paced),
            liveWorker)
        try await rig.expectSmallTierAnswered(live.outcome.jobIDs, gate: "off", what: "the live series")
        let livePath = try await FirstTokenPath.measure(live.outcome.kept, rig: rig)
        await liveWorker.stop()
        let verifiedWorker = try await rig.startWorkers(1, concurrency: options.streams + 16, config: "[tier1]\nstream_mode = \"verified\"\n")[0]
        let verified = try await series(
            "through the pool, verified", setting.pooledURL,
            setting.body("v", asWorker: false, words: options.streamAnswerWords, directives: paced), verifiedWorker)
        try await rig.expectSmallTierAnswered(verified.outcome.jobIDs, gate: nil, what: "the verified series")
        await verifiedWorker.stop()
        addLatencies(direct: direct, live: live, verified: verified, probe: probe, to: &report)
        report.notes.append("live first token, where the time went: " + livePath.summary)

        let early = try await escalation(rig, load: load, setting: setting, early: true)
        let late = try await escalation(rig, load: load, setting: setting, early: false)
        addEscalation(early: early, late: late, to: &report)

        try await heldStreams(rig, load: load, setting: setting, cpuOf: processes, to: &report)
        return report
    }

    /// The requests of one streaming run: their model, the run's tag and the two addresses.
    struct StreamSetting: Sendable {
        let model: String
        let run: String
        let directURL: String
        let pooledURL: String

        /// The body of request `index` of `series`: a unique prompt, one answer length.
        func body(_ series: String, asWorker: Bool, words: Int, directives: [String]) -> @Sendable (Int) -> Data {
            { [model, run] index in
                let reference = "\(run)\(series)" + String(format: "%06d", index)
                return StreamPrompt.body(
                    model: model, text: StreamPrompt.text(words: words, reference: reference, directives: directives), asWorker: asWorker)
            }
        }
    }

    /// One timed series and the CPU its processes used.
    struct StreamSeries {
        var outcome: StreamOutcome
        var cpu: String
    }

    private func addLatencies(direct: StreamSeries, live: StreamSeries, verified: StreamSeries, probe: StreamTrace, to report: inout ScenarioReport) {
        let (d, l, v) = (direct.outcome, live.outcome, verified.outcome)
        report.add("TTFT p50, direct", d.firstToken.p50, "ms")
        report.add("TTFT p99, direct", d.firstToken.p99, "ms")
        report.add("inter-token gap p50, direct", d.gaps.p50, "ms")
        report.add("inter-token gap p99, direct", d.gaps.p99, "ms")
        report.add("TTFT p50, pool live", l.firstToken.p50, "ms", baseline: ("direct", d.firstToken.p50))
        report.add("TTFT p99, pool live", l.firstToken.p99, "ms", baseline: ("direct", d.firstToken.p99))
        let added50 = l.firstToken.p50 - d.firstToken.p50, added99 = l.firstToken.p99 - d.firstToken.p99
        report.add("added TTFT p50, live (pool - direct)", added50, "ms", target: "≤ 2 ms", met: added50 <= 2)
        report.add("added TTFT p99, live (pool - direct)", added99, "ms", target: "≤ 5 ms", met: added99 <= 5)
        report.add("inter-token gap p50, pool live", l.gaps.p50, "ms", baseline: ("direct", d.gaps.p50))
        report.add("inter-token gap p99, pool live", l.gaps.p99, "ms", baseline: ("direct", d.gaps.p99))
        report.add("TTFT p50, pool verified (whole answer)", v.firstToken.p50, "ms", baseline: ("live", l.firstToken.p50))
        report.add("TTFT p99, pool verified (whole answer)", v.firstToken.p99, "ms", baseline: ("live", l.firstToken.p99))
        report.add("verified costs vs live, TTFT p50", v.firstToken.p50 - l.firstToken.p50, "ms")
        report.add("verified costs vs live, TTFT p99", v.firstToken.p99 - l.firstToken.p99, "ms")
        report.add("whole answer p50, direct", d.complete.p50, "ms")
        report.add("whole answer p50, pool live", l.complete.p50, "ms", baseline: ("direct", d.complete.p50))
        report.add("whole answer p50, pool verified", v.complete.p50, "ms", baseline: ("direct", d.complete.p50))
        let length = { (outcome: StreamOutcome) in outcome.characters.map { "\($0.lowerBound)–\($0.upperBound)" } ?? "?" }
        report.notes.append(
            "answers: \(probe.contentDeltas) tokens (\(length(d)) characters) each; content deltas per stream: direct "
                + String(format: "%.1f, live %.1f, verified %.1f", d.deltasPerStream, l.deltasPerStream, v.deltasPerStream)
                + "; characters live \(length(l)), verified \(length(v))")
        report.notes.append(
            "measured streams per series: \(d.streams) (\(options.streamRounds) × \(options.streams), after \(options.streams) of warm-up); "
                + "the first \(options.streams) starts spread over one answer's length (\(Int(probe.complete ?? 0)) ms)")
        report.notes.append("CPU, direct series: " + direct.cpu)
        report.notes.append("CPU, live series: " + live.cpu)
        report.notes.append("CPU, verified series: " + verified.cpu)
    }

    static func check(_ outcome: StreamOutcome, what: String) throws {
        guard outcome.failures == 0 else {
            throw BenchError(
                "\(outcome.failures) of \(outcome.failures + outcome.streams) streams \(what) failed; first: \(outcome.firstFailure ?? "?")")
        }
    }
}

extension BenchRig {
    /// The results the workers committed for `ids`, from the reply lists a stream leaves.
    func committedResults(_ ids: [String]) async throws -> [JobResult] {
        var results: [JobResult] = []
        for id in ids {
            guard let bytes = try await redis.send("LINDEX", RedisArgument(keys.reply(id)), 0).bytes else {
                throw BenchError("job \(id) has no result in its reply list")
            }
            results.append(try JobResult.decode(bytes))
        }
        return results
    }

    /// Fails unless tier 1 answered every job of `ids` without falling back (with the
    /// confidence gate `gate`): otherwise a series measured something other than it says.
    func expectSmallTierAnswered(_ ids: [String], gate: String?, what: String) async throws {
        guard !ids.isEmpty else { throw BenchError("\(what): the gateway named no job (no x-cervella-job-id header)") }
        for result in try await committedResults(ids) {
            guard result.ok, let metadata = result.metadata, metadata.tier == 1, !metadata.fallback, metadata.confidenceGate == gate else {
                throw BenchError(
                    "\(what): job \(result.id) was not answered by tier 1 as expected: tier \(result.metadata?.tier ?? 0), fallback "
                        + "\(result.metadata?.fallback ?? false) (\(result.metadata?.fallbackReason ?? "-")), gate "
                        + "\(result.metadata?.confidenceGate ?? "-"), error \(result.error?.code ?? "-")")
            }
        }
    }
}
