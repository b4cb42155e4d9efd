import Foundation
import RedisClient

extension Bench {
    /// The gateway's Redis connections while few streams are open and while many are: the
    /// gateway reads every stream over a fixed two connections, so the count must not move.
    ///
    /// The streams are live and slow (`heldTokenMs` a token, long answers), so all of them are
    /// open at once; once they are, the connections are counted a few times over a second,
    /// then the bench hangs up on them (the gateway cancels their jobs).
    func heldStreams(
        _ rig: BenchRig, load: StreamLoad, setting: StreamSetting, cpuOf: (ChildProcess?) -> [(name: String, pid: Int32)],
        to report: inout ScenarioReport
    ) async throws {
        // Long answers outlive the small model's default 10 s budget and Claude's 60 s: raise
        // both for this worker. It serves the fallback queue too, so that a job that falls
        // back (a provider connection that timed out on a loaded machine) still streams and
        // is counted below, rather than waiting for its deadline.
        let config = "[fallback]\ntimeout_ms = 300000\n\n[tier1]\nstream_mode = \"live\"\n\n[tier3]\ntimeout_ms = 300000\n"
        let worker = try await rig.startWorkers(1, queues: "fallback,tier1", concurrency: options.manyHeldStreams + 16, config: config)[0]
        try await Task.sleep(for: .milliseconds(500))
        let idleClients = try await rig.clientNames().count
        let fallbacksBefore = try await rig.fallbacks()
        var counted: [(streams: Int, held: StreamLoad.Held<ConnectionCount>, cpu: String)] = []
        for count in [options.fewHeldStreams, options.manyHeldStreams] {
            let watch = CPUWatch(cpuOf(worker))
            let prefix = rig.keys.prefix
            let held = try await load.hold(
                label: "\(count) streams held open", count: count, rate: options.heldStreamsPerSecond, within: .seconds(120), url: setting.pooledURL,
                body: setting.body("h\(count)-", asWorker: false, words: options.heldAnswerWords, directives: ["token_ms=\(options.heldTokenMs)"])
            ) { _ in
                // The most seen over a second, in case a connection comes and goes.
                var most = ConnectionCount(gateway: [:], all: 0)
                for _ in 0..<5 {
                    let now = ConnectionCount(names: try await rig.clientNames(), prefix: prefix)
                    if now.gatewayTotal > most.gatewayTotal { most.gateway = now.gateway }
                    most.all = max(most.all, now.all)
                    try await Task.sleep(for: .milliseconds(200))
                }
                return most
            }
            counted.append((count, held, watch.summary()))
            guard held.failures == 0 else {
                throw BenchError("\(held.failures) of \(count) held streams failed before the count; first: \(held.firstFailure ?? "?")")
            }
            // Let the gateway notice the hang-ups and the worker cancel their calls.
            try await Task.sleep(for: .seconds(2))
        }
        let fellBack = try await rig.fallbacks() - fallbacksBefore
        await worker.stop()

        let (few, many) = (counted[0], counted[1])
        report.add("gateway Redis connections, \(few.held.open) streams open", Double(few.held.value.gatewayTotal), "connections")
        report.add(
            "gateway Redis connections, \(many.held.open) streams open", Double(many.held.value.gatewayTotal), "connections",
            baseline: ("with \(few.held.open) open", Double(few.held.value.gatewayTotal)), target: "constant",
            met: many.held.value.gatewayTotal == few.held.value.gatewayTotal && many.held.open == many.streams)
        report.add(
            "Redis clients above the idle pool, \(many.held.open) streams open", Double(many.held.value.all - idleClients), "connections",
            baseline: ("with \(few.held.open) open", Double(few.held.value.all - idleClients)))
        if let after = many.held.allOpenAfter {
            report.add("time until all \(many.streams) streams had content", after.milliseconds, "ms")
        } else {
            report.notes.append("only \(many.held.open) of \(many.streams) streams had content within 120 s")
        }
        report.add("TTFT p50 while opening \(many.streams) streams", many.held.firstToken.p50, "ms")
        report.add("TTFT p99 while opening \(many.streams) streams", many.held.firstToken.p99, "ms")
        report.notes.append(
            "held streams: opened \(Int(options.heldStreamsPerSecond)) a second, answers of about \(options.heldAnswerWords + 25) tokens at "
                + "\(options.heldTokenMs) ms, counted once all had content, then hung up on; jobs that fell back to Claude meanwhile: \(fellBack)")
        report.notes.append(
            "gateway connections by name with \(many.held.open) streams open: "
                + many.held.value.gateway.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        report.notes.append("CPU while opening and holding \(many.streams) streams: " + many.cpu)
    }

    /// Redis clients counted from `CLIENT LIST`: the gateway's, by connection name, and all.
    struct ConnectionCount: Sendable {
        var gateway: [String: Int]
        var all: Int

        var gatewayTotal: Int { gateway.values.reduce(0, +) }

        init(gateway: [String: Int], all: Int) {
            self.gateway = gateway
            self.all = all
        }

        /// The gateway names its connections `gateway…@<key prefix>` (commands, stream
        /// readers, reply subscription).
        init(names: [String], prefix: String) {
            var gateway: [String: Int] = [:]
            for name in names where name.hasPrefix("gateway") && name.hasSuffix("@" + prefix) {
                gateway[String(name.dropLast(prefix.count + 1)), default: 0] += 1
            }
            self.init(gateway: gateway, all: names.count)
        }
    }
}

extension BenchRig {
    /// Tier-1 jobs that fell back to Claude this hour (the workers' hourly stats, flushed every second).
    func fallbacks() async throws -> Int {
        try await Task.sleep(for: .milliseconds(Int64(settings.worker.statsFlushSeconds * 1000) + 500))
        let field = try await redis.send("HGET", RedisArgument(keys.stats(hour: Bench.hour())), "fallbacks:tier1")
        return field.string.flatMap { Int($0) } ?? 0
    }

    /// The name of every client connected to Redis now (`CLIENT LIST`), "" for unnamed ones.
    func clientNames() async throws -> [String] {
        let list = try await redis.send("CLIENT", "LIST").string ?? ""
        return list.split(whereSeparator: \.isNewline).map { line in
            line.split(separator: " ").first { $0.hasPrefix("name=") }.map { String($0.dropFirst("name=".count)) } ?? ""
        }
    }
}
