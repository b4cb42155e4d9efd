import Foundation
import JobProtocol
import Producer
import RedisClient
import Synchronization

extension Bench {
    /// Interactive chat at a steady rate through the gateway, alone and while a bulk batch runs
    /// on the same workers; and the batch alone: what lanes (docs/PROTOCOL.md) promise.
    ///
    /// The batch is `lanesBatchJobs` jobs submitted as job groups of `lanesGroupSize` (bulk by
    /// default), all at once, so the bulk lanes hold far more than the workers can run; its
    /// throughput is jobs over the time from submission to the last group's result. The
    /// interactive series is the same open-loop load (`lanesRate` requests a second for
    /// `lanesSeconds`) each time; with the batch it starts once the batch is running and ends
    /// before the batch does, so every interactive request meets a full bulk lane.
    func lanes(_ rig: BenchRig) async throws -> ScenarioReport {
        var report = ScenarioReport(
            scenario: "lanes",
            parameters: [
                "batch_jobs": "\(options.lanesBatchJobs)", "group_size": "\(options.lanesGroupSize)", "workers": "\(options.workers)",
                "worker_concurrency": "\(options.lanesConcurrency)", "simulator_latency": "\(options.lanesLatencyMs) ms",
                "interactive": "\(options.lanesRate)/s for \(options.lanesSeconds) s",
            ])
        try await rig.startSimulator(latencyMs: options.lanesLatencyMs)
        let workers = try await rig.startWorkers(options.workers, concurrency: options.lanesConcurrency)
        let (_, gateway) = try await rig.startGateway()
        let url = gateway + "/v1/chat/completions"
        let interactiveTotal = max(1, Int(options.lanesRate * options.lanesSeconds))
        let interactive = { (label: String, run: Int) in
            await rig.chatCalls(url, label: label, total: interactiveTotal, rate: options.lanesRate) { "Explain queues, question \(run)-\($0)." }
        }

        let alone = await interactive("interactive alone", 0)
        try Self.check(alone, what: "interactive requests alone")
        let batchAlone = try await batch(rig, label: "batch alone", run: 0)

        let watch = CPUWatch(workers.map { (name: "worker", pid: $0.pid) })
        let running = Task { try await batch(rig, label: "batch with interactive load", run: 1) }
        // Once the bulk lanes are full, the interactive series, which must end before the batch.
        try await Task.sleep(for: .seconds(2))
        let together = await interactive("interactive with the batch", 1)
        let batchLeft = try await rig.redis.send("LLEN", RedisArgument(rig.keys.queue(.tier1Bulk))).integer ?? 0
        let batchTogether = try await running.value
        let cpu = watch.summary()
        try Self.check(together, what: "interactive requests with the batch")

        let p50Ratio = together.samples.p50 / max(alone.samples.p50, 1e-9)
        let p99Ratio = together.samples.p99 / max(alone.samples.p99, 1e-9)
        let throughputRatio = batchTogether.perSecond / max(batchAlone.perSecond, 1e-9)
        report.add("interactive p50, alone", alone.samples.p50, "ms")
        report.add("interactive p99, alone", alone.samples.p99, "ms")
        report.add(
            "interactive p50, with the batch", together.samples.p50, "ms", baseline: ("alone", alone.samples.p50), target: "≤ 1.2× alone",
            met: p50Ratio <= 1.2)
        report.add(
            "interactive p99, with the batch", together.samples.p99, "ms", baseline: ("alone", alone.samples.p99), target: "≤ 1.2× alone",
            met: p99Ratio <= 1.2)
        report.add("batch jobs/s, alone", batchAlone.perSecond, "jobs/s")
        report.add(
            "batch jobs/s, with interactive load", batchTogether.perSecond, "jobs/s", baseline: ("alone", batchAlone.perSecond),
            target: "≥ 0.8× alone", met: throughputRatio >= 0.8)
        report.notes.append(
            "the batch: \(options.lanesBatchJobs) jobs in groups of \(options.lanesGroupSize), submitted at once; alone it took "
                + String(format: "%.1f s, with interactive load %.1f s", batchAlone.seconds, batchTogether.seconds))
        report.notes.append("bulk jobs still queued when the interactive series ended: \(batchLeft) (it must not be 0)")
        report.notes.append("CPU of the workers while the batch ran with interactive load: " + cpu)
        if batchLeft == 0 {
            throw BenchError("the batch ran out before the interactive series ended: raise --lanes-batch-jobs or lower --lanes-seconds")
        }
        return report
    }

    /// What one batch run took.
    struct BatchRun {
        var jobs: Int
        var seconds: Double
        var perSecond: Double { Double(jobs) / max(seconds, 1e-9) }
    }

    /// Submits the batch as groups and waits for every group's result.
    private func batch(_ rig: BenchRig, label: String, run: Int) async throws -> BatchRun {
        let connection = RedisConnection(configuration: try RedisConfiguration(url: rig.settings.redis.url), name: "bench-batch")
        let producer = Producer(settings: rig.settings, connection: connection)
        defer {
            producer.close()
            connection.close()
        }
        let route = Route(tier: 1, model: rig.settings.tier(.tier1).model, reason: "bench")
        let total = options.lanesBatchJobs
        let size = max(1, options.lanesGroupSize)
        var groups: [JobGroup] = []
        for start in stride(from: 0, to: total, by: size) {
            let children = try (start..<min(total, start + size)).map { index in
                try producer.makeJob(
                    messages: [ChatMessage(role: "user", content: "Summarize: batch \(run) document \(index).")],
                    params: GenerationParameters(maxTokens: 16), route: route)
            }
            groups.append(try producer.makeGroup(children, timeoutSeconds: 600))
        }
        let done = BatchProgress()
        let started = ContinuousClock.now
        for group in groups { try await producer.submitGroup(group) }
        let failures = try await withThrowingTaskGroup(of: Int.self) { tasks in
            tasks.addTask {
                await Load.progress(label: label, total: total) { done.count.withLock { $0 } }
                return 0
            }
            for group in groups {
                tasks.addTask {
                    let report = try await producer.awaitGroup(group)
                    done.count.withLock { $0 += group.children.count }
                    return report.ok == true ? 0 : 1
                }
            }
            var failed = 0
            for _ in groups {
                failed += try await tasks.next() ?? 0
            }
            tasks.cancelAll()
            return failed
        }
        let seconds = started.duration(to: .now).seconds
        guard failures == 0 else { throw BenchError("\(failures) of \(groups.count) groups of the \(label) failed") }
        return BatchRun(jobs: total, seconds: seconds)
    }
}

/// Jobs of a batch whose groups have ended, for the progress line.
final class BatchProgress: Sendable {
    let count = Mutex(0)
}
