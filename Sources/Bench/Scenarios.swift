import CurlHTTP
import Foundation
import JobProtocol
import Logging
import Producer
import RedisClient
import Settings

/// The knobs of `cervella bench`; defaults are the sizes docs/BENCHMARKS.md quotes.
public struct BenchOptions: Sendable {
    public var jobs = 50_000
    public var workers = 2
    public var window = 1_000
    public var workerConcurrency = 256
    public var rate = 1_000.0
    public var durationSeconds = 10.0
    public var concurrencyJobs = 5_000
    public var concurrencyLatencyMs = 1_000
    public var waitingRequests = 2_000
    /// throughput: which providers to run series with.
    public var instantSeries = true
    public var simulatorSeries = true
    /// streaming: streams open at once in each timed series, and the rounds of that many
    /// measured after one round of warm-up.
    public var streams = 200
    public var streamRounds = 3
    /// streaming: the simulator's pause before each token (`#sim token_ms`), and the words of
    /// the translated passage (the answer is about 25 tokens more).
    public var tokenMs = 20
    public var streamAnswerWords = 60
    /// streaming, early escalation: requests, how many at once, and the long answer's words.
    public var escalationRequests = 8
    public var escalationWindow = 4
    public var escalationAnswerWords = 150
    /// streaming: streams held open while the gateway's Redis connections are counted, few
    /// then many, opened `heldStreamsPerSecond` a second, answers of `heldAnswerWords` words
    /// paced `heldTokenMs` a token, long enough to outlast the opening of them all. A second a
    /// token: 2,000 streams at 200 ms are 10,000 tokens a second, more than two cores carry
    /// through simulator, worker and gateway.
    public var fewHeldStreams = 10
    public var manyHeldStreams = 2_000
    public var heldStreamsPerSecond = 100.0
    public var heldAnswerWords = 150
    public var heldTokenMs = 1_000
    /// lanes: the bulk batch (jobs, in groups of this many), each worker's concurrency, the
    /// simulator's latency, and the interactive load (requests a second, for so many seconds).
    public var lanesBatchJobs = 20_000
    public var lanesGroupSize = 1_000
    public var lanesConcurrency = 64
    public var lanesLatencyMs = 200
    public var lanesRate = 20.0
    public var lanesSeconds = 15.0
    /// shadow: requests per second through the gateway, seconds per series, and the
    /// simulated provider's latency.
    public var shadowRate = 20.0
    public var shadowSeconds = 15.0
    public var shadowLatencyMs = 100
    /// single-flight: identical requests sent at once, and the simulator's latency (long
    /// enough for all of them to arrive before the first answer).
    public var singleFlightRequests = 1_000
    public var singleFlightLatencyMs = 2_000
    /// backlog: interactive requests a second for so many seconds, their deadline, and tier 1's
    /// slots and answer time (it drains slots × 1000 / latency jobs a second).
    public var backlogRate = 8.0
    public var backlogSeconds = 20.0
    public var backlogTimeoutSeconds = 10.0
    public var backlogConcurrency = 4
    public var backlogLatencyMs = 1_000
    public init() {}

    /// Small sizes: a smoke test that every scenario works, for CI (no timing assertions).
    public static var smoke: BenchOptions {
        var options = BenchOptions()
        options.jobs = 2_000
        options.window = 200
        options.workerConcurrency = 64
        options.rate = 200
        options.durationSeconds = 2
        options.concurrencyJobs = 400
        options.concurrencyLatencyMs = 200
        options.waitingRequests = 200
        options.streams = 10
        options.streamRounds = 1
        options.tokenMs = 10
        options.streamAnswerWords = 20
        options.escalationRequests = 2
        options.escalationWindow = 2
        options.escalationAnswerWords = 40
        options.manyHeldStreams = 100
        options.lanesBatchJobs = 3_000
        options.lanesGroupSize = 500
        options.lanesConcurrency = 32
        options.lanesRate = 10
        options.lanesSeconds = 1
        options.shadowRate = 10
        options.shadowSeconds = 1
        options.singleFlightRequests = 100
        options.singleFlightLatencyMs = 1_000
        options.backlogSeconds = 4
        return options
    }
}

public enum BenchScenario: String, CaseIterable, Sendable {
    case throughput, overhead, concurrency, cache, memory, streaming, lanes, shadow
    case singleFlight = "single-flight"
    case backlog
}

/// Runs scenarios against the Redis in `settings`, each on a fresh rig, and reports them.
public struct Bench: Sendable {
    let binary: String
    let settings: CervellaSettings
    let options: BenchOptions
    let logger: Logger

    public init(binary: String, settings: CervellaSettings, options: BenchOptions, logger: Logger) {
        self.binary = binary
        self.settings = settings
        self.options = options
        self.logger = logger
    }

    public func run(_ scenario: BenchScenario) async throws -> ScenarioReport {
        let rig = try BenchRig(
            binary: binary, settings: settings, logger: logger, httpConnections: max(512, options.waitingRequests + 64, options.window + 64))
        do {
            let report: ScenarioReport
            switch scenario {
            case .throughput: report = try await throughput(rig)
            case .overhead: report = try await overhead(rig)
            case .concurrency: report = try await concurrency(rig)
            case .cache: report = try await cache(rig)
            case .memory: report = try await memory(rig)
            case .streaming: report = try await streaming(rig)
            case .lanes: report = try await lanes(rig)
            case .shadow: report = try await shadow(rig)
            case .singleFlight: report = try await singleFlight(rig)
            case .backlog: report = try await backlog(rig)
            }
            await rig.shutdown()
            return report
        } catch {
            await rig.shutdown()
            throw error
        }
    }

    // MARK: - throughput

    /// What one series of pool jobs measured.
    struct PoolSeries {
        var outcome: LoadOutcome
        var workerCommands: Double
        var workerRoundTrips: Double
        var producerCommands: Double
        var producerRoundTrips: Double
        var executed: Double
        var topCommands: String
        var cpuPerJob: String
    }

    /// N jobs through the full path with W worker processes and C jobs in flight: once with
    /// the instant provider (the pool's own cost, like a no-op task), once with the simulator
    /// over HTTP; the simulator alone, called directly with the same window, is the baseline.
    func throughput(_ rig: BenchRig) async throws -> ScenarioReport {
        var report = ScenarioReport(
            scenario: "throughput",
            parameters: [
                "jobs": "\(options.jobs)", "workers": "\(options.workers)", "window": "\(options.window)",
                "worker_concurrency": "\(options.workerConcurrency)",
            ])
        try await rig.startSimulator(latencyMs: 0)
        let ceiling = await RedisCeiling.measure(url: rig.settings.redis.url, key: rig.keys.prefix + ":ceiling")
        let direct = await rig.chatCalls(
            rig.simulatorURL + "/v1/chat/completions", label: "direct simulator calls", total: min(options.jobs, 20_000), window: options.window
        ) {
            "Summarize: bench request \($0)"
        }
        try Self.check(direct, what: "direct simulator calls")

        let simulated = options.simulatorSeries ? try await poolSeries(rig, label: "jobs via the simulator", config: nil) : nil
        let instantConfig = "[tier1]\nkind = \"instant\"\n"
        // The shipped default: every job asks for the cache (and misses: each text is new).
        let instant = options.instantSeries ? try await poolSeries(rig, label: "jobs via the instant provider", config: instantConfig) : nil
        if let instant { addInstant(instant, ceiling: ceiling, to: &report) }
        if options.instantSeries, let instant {
            let uncached = try await poolSeries(rig, label: "jobs via the instant provider, cache off", config: instantConfig, cache: false)
            report.add("jobs/s, instant provider, \"cache\": false", uncached.outcome.perSecond, "jobs/s")
            let cost = uncached.outcome.perSecond > 0 ? (1 - instant.outcome.perSecond / uncached.outcome.perSecond) * 100 : 0
            report.add("throughput the cache costs (on vs off, same run)", cost, "%", target: "≤ 5", met: cost <= 5)
            report.notes.append("CPU per job, instant, cache off: " + uncached.cpuPerJob)
        }
        if let simulated {
            report.add("jobs/s, simulator over HTTP", simulated.outcome.perSecond, "jobs/s", baseline: ("direct simulator calls/s", direct.perSecond))
            report.add("latency p50, simulator", simulated.outcome.samples.p50, "ms", baseline: ("direct call p50", direct.samples.p50))
            report.add("latency p99, simulator", simulated.outcome.samples.p99, "ms", baseline: ("direct call p99", direct.samples.p99))
            if instant == nil { addTraffic(simulated, to: &report) }
            report.notes.append("CPU per job, simulator: " + simulated.cpuPerJob)
        }
        report.notes.append("executed counts the commands inside scripts too; a round trip carries every command pipelined into it")
        if ceiling == nil { report.notes.append("redis-benchmark not found: no Redis ceiling (Debian package redis-tools)") }
        return report
    }

    private func addInstant(_ instant: PoolSeries, ceiling: RedisCeiling?, to report: inout ScenarioReport) {
        report.add("jobs/s, instant provider", instant.outcome.perSecond, "jobs/s", target: "≥ 15000", met: instant.outcome.perSecond >= 15_000)
        if let unpipelined = ceiling?.unpipelined {
            report.add(
                "instant jobs/s vs Redis", instant.outcome.perSecond, "jobs/s", baseline: ("redis-benchmark LPUSH/s, unpipelined", unpipelined))
        }
        if let pipelined = ceiling?.pipelined {
            report.add(
                "instant jobs/s vs Redis pipelined", instant.outcome.perSecond, "jobs/s", baseline: ("redis-benchmark LPUSH/s, -P 32", pipelined))
        }
        report.add("latency p50, instant", instant.outcome.samples.p50, "ms")
        report.add("latency p99, instant", instant.outcome.samples.p99, "ms")
        addTraffic(instant, to: &report)
        report.notes.append("CPU per job, instant: " + instant.cpuPerJob)
    }

    /// Redis traffic per job of one series, against the ≤ 2 targets.
    private func addTraffic(_ instant: PoolSeries, to report: inout ScenarioReport) {
        report.add("Redis commands sent per job, worker side", instant.workerCommands, "cmds", target: "≤ 2", met: instant.workerCommands <= 2.0)
        report.add("Redis round trips per job, worker side", instant.workerRoundTrips, "trips", target: "≤ 2", met: instant.workerRoundTrips <= 2.0)
        report.add(
            "Redis commands sent per job, producer side", instant.producerCommands, "cmds", target: "≤ 2", met: instant.producerCommands <= 2.0)
        report.add(
            "Redis round trips per job, producer side", instant.producerRoundTrips, "trips", target: "≤ 2", met: instant.producerRoundTrips <= 2.0)
        report.add("commands Redis executed per job", instant.executed, "cmds")
        report.notes.append("commands Redis executed: " + instant.topCommands)
    }

    /// Starts W workers, warms up, runs the timed jobs, counts traffic and CPU, stops them.
    func poolSeries(_ rig: BenchRig, label: String, config: String?, cache: Bool = true) async throws -> PoolSeries {
        let workers = try await rig.startWorkers(options.workers, concurrency: options.workerConcurrency, config: config)
        let bench = try BenchProducer(rig: rig, logger: logger)
        defer { bench.close() }
        let connection = bench.connection
        // Warm-up: connections, scripts loaded, code paths paged in.
        // Texts new to this series, so that with the cache on every job misses, as new questions do.
        let series = UUID().uuidString.prefix(8)
        _ = await bench.run(label: "warm-up", total: min(2_000, options.jobs), window: options.window, cache: cache) { "warm-up \(series) \($0)" }
        let workersBefore = try await rig.workerTraffic(workers, since: Date().timeIntervalSince1970)
        let redisPID = await rig.redisServerPID()
        let cpu: @Sendable () -> [(String, Double?)] = {
            [
                ("workers", workers.map { $0.cpuSeconds() ?? 0 }.reduce(0, +)), ("simulator", rig.simulator?.cpuSeconds()),
                ("redis-server", redisPID.flatMap(processCPUSeconds)), ("producer (this process)", processCPUSeconds(getpid())),
            ]
        }
        let cpuBefore = cpu()
        let before = try await rig.commandCalls()
        let producerBefore = (connection.traffic.commands, connection.traffic.roundTrips)
        let outcome = await bench.run(label: label, total: options.jobs, window: options.window, cache: cache) {
            "Summarize: bench job \(series) \($0)"
        }
        let after = try await rig.commandCalls()
        let producerAfter = (connection.traffic.commands, connection.traffic.roundTrips)
        let cpuAfter = cpu()
        try Self.check(outcome, what: label)
        let workersAfter = try await rig.workerTraffic(workers, since: Date().timeIntervalSince1970)
        for worker in workers { await worker.stop() }

        let jobs = Double(options.jobs)
        let counted = after.filter { $0.key != "info" }
        let executed = Double(counted.values.reduce(0, +) - before.filter { $0.key != "info" }.values.reduce(0, +))
        let top = counted.map { ($0.key, $0.value - (before[$0.key] ?? 0)) }.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(8)
        let cpuPerJob = zip(cpuBefore, cpuAfter).compactMap { before, after -> String? in
            guard let start = before.1, let end = after.1 else { return nil }
            return "\(before.0) \(Int(((end - start) / jobs * 1e6).rounded())) µs"
        }
        // Each side counts what it sends; the workers' counts include their heartbeats, live
        // config polls, health loops and stats flushes during the run.
        return PoolSeries(
            outcome: outcome,
            workerCommands: Double(workersAfter.commands - workersBefore.commands) / jobs,
            workerRoundTrips: Double(workersAfter.roundTrips - workersBefore.roundTrips) / jobs,
            producerCommands: Double(producerAfter.0 - producerBefore.0) / jobs,
            producerRoundTrips: Double(producerAfter.1 - producerBefore.1) / jobs,
            executed: executed / jobs,
            topCommands: top.map { "\($0.0) \($0.1)" }.joined(separator: ", "),
            cpuPerJob: cpuPerJob.joined(separator: ", ")
        )
    }

    // MARK: - overhead

    /// Fixed-rate requests through the gateway and, in the same run, straight to the simulator.
    func overhead(_ rig: BenchRig) async throws -> ScenarioReport {
        // With `--provider instant` the worker skips its provider call: what is left is the
        // gateway and the queue alone (a diagnostic; the target is measured with the simulator).
        let instant = !options.simulatorSeries
        var report = ScenarioReport(
            scenario: "overhead",
            parameters: [
                "rate": "\(Int(options.rate))/s", "duration": "\(options.durationSeconds) s", "workers": "1",
                "provider": instant ? "instant" : "simulator",
            ])
        try await rig.startSimulator(latencyMs: 0)
        _ = try await rig.startWorkers(1, concurrency: options.workerConcurrency, config: instant ? "[tier1]\nkind = \"instant\"\n" : nil)
        let (_, gateway) = try await rig.startGateway()
        let total = Int(options.rate * options.durationSeconds)
        let pooledURL = gateway + "/v1/chat/completions", directURL = rig.simulatorURL + "/v1/chat/completions"
        _ = await rig.chatCalls(pooledURL, label: "warm-up", total: min(500, total), rate: options.rate) { "Summarize: warm-up \($0)" }
        let direct = await rig.chatCalls(directURL, label: "direct", total: total, rate: options.rate) { "Summarize: direct \($0)" }
        let pooled = await rig.chatCalls(pooledURL, label: "through the gateway", total: total, rate: options.rate) { "Summarize: pooled \($0)" }
        try Self.check(direct, what: "direct calls")
        try Self.check(pooled, what: "gateway requests")
        for (name, p, target) in [("p50", 50.0, 1.0), ("p90", 90.0, nil), ("p99", 99.0, 3.0)] as [(String, Double, Double?)] {
            let added = pooled.samples.percentile(p) - direct.samples.percentile(p)
            report.add(
                "gateway + queue latency \(name)", pooled.samples.percentile(p), "ms", baseline: ("direct \(name)", direct.samples.percentile(p)))
            report.add("added latency \(name)", added, "ms", target: target.map { "≤ \(Int($0)) ms" }, met: target.map { added <= $0 })
        }
        report.add("achieved rate through the gateway", pooled.perSecond, "req/s", baseline: ("achieved direct", direct.perSecond))
        return report
    }

    // MARK: - concurrency

    /// One worker, a slow provider, many calls in flight: the worker must not be the limit.
    func concurrency(_ rig: BenchRig) async throws -> ScenarioReport {
        let window = options.window
        var report = ScenarioReport(
            scenario: "concurrency",
            parameters: [
                "jobs": "\(options.concurrencyJobs)", "window": "\(window)", "provider_latency": "\(options.concurrencyLatencyMs) ms", "workers": "1",
            ])
        try await rig.startSimulator(latencyMs: options.concurrencyLatencyMs)
        // Baseline: the same calls straight to the slow simulator, same window. Each series
        // first runs one window of calls untimed, so that opening a thousand connections is
        // not counted as throughput (steady state, as in the throughput scenario).
        let directURL = rig.simulatorURL + "/v1/chat/completions"
        _ = await rig.chatCalls(directURL, label: "direct warm-up", total: window, window: window) { "Summarize: warm-up \($0)" }
        let direct = await rig.chatCalls(
            directURL, label: "direct calls at \(options.concurrencyLatencyMs) ms", total: options.concurrencyJobs, window: window
        ) {
            "Summarize: slow direct \($0)"
        }
        try Self.check(direct, what: "direct calls")
        let worker = try await rig.startWorkers(1, concurrency: window)[0]
        let bench = try BenchProducer(rig: rig, logger: logger)
        defer { bench.close() }
        let series = UUID().uuidString.prefix(8)
        _ = await bench.run(label: "warm-up", total: window, window: window) { "Summarize: warm-up \(series) \($0)" }
        let outcome = await bench.run(label: "jobs at \(options.concurrencyLatencyMs) ms", total: options.concurrencyJobs, window: window) {
            "Summarize: slow job \(series) \($0)"
        }
        try Self.check(outcome, what: "jobs")
        let ideal = Double(window) / (Double(options.concurrencyLatencyMs) / 1000)
        let target = ideal * 0.95
        report.add(
            "jobs/s", outcome.perSecond, "jobs/s", baseline: ("ideal window/latency", ideal), target: "≥ \(Int(target))",
            met: outcome.perSecond >= target)
        report.add("jobs/s vs direct calls", outcome.perSecond, "jobs/s", baseline: ("direct calls/s, same window", direct.perSecond))
        report.add("latency p50", outcome.samples.p50, "ms", baseline: ("direct call p50", direct.samples.p50))
        report.add("latency p99", outcome.samples.p99, "ms", baseline: ("direct call p99", direct.samples.p99))
        if let memory = worker.memory() {
            report.add("worker peak RSS", memory.peak, "MB", target: "≤ 100 MB", met: memory.peak <= 100)
        }
        return report
    }

    // MARK: - cache

    /// Exact-match hits through the gateway, against a direct simulator call at the same rate.
    func cache(_ rig: BenchRig) async throws -> ScenarioReport {
        var report = ScenarioReport(scenario: "cache", parameters: ["rate": "\(Int(options.rate))/s", "duration": "\(options.durationSeconds) s"])
        try await rig.startSimulator(latencyMs: 0)
        _ = try await rig.startWorkers(1, concurrency: options.workerConcurrency)
        let (_, gateway) = try await rig.startGateway()
        let question = "Summarize: the cached question"
        let prime = await rig.post(
            gateway + "/v1/chat/completions", body: Self.completionBody(model: rig.settings.tier(.tier1).model, text: question))
        guard prime.status == 200 else { throw BenchError("priming the cache through the gateway failed with HTTP \(prime.status)") }
        let total = Int(options.rate * options.durationSeconds)
        let direct = await rig.chatCalls(rig.simulatorURL + "/v1/chat/completions", label: "direct", total: total, rate: options.rate) { _ in question
        }
        let before = try await rig.redis.send("HGET", RedisArgument(rig.keys.stats(hour: Self.hour())), "cache_hits").string.flatMap { Int($0) } ?? 0
        let hits = await rig.chatCalls(gateway + "/v1/chat/completions", label: "cache hits", total: total, rate: options.rate) { _ in question }
        try Self.check(direct, what: "direct calls")
        try Self.check(hits, what: "cached requests")
        report.add("cache hit latency p50", hits.samples.p50, "ms", baseline: ("direct call p50", direct.samples.p50))
        report.add("cache hit latency p99", hits.samples.p99, "ms", baseline: ("direct call p99", direct.samples.p99))
        let workerJobs =
            try await rig.redis.send("HGET", RedisArgument(rig.keys.stats(hour: Self.hour())), "requests:tier1").string.flatMap { Int($0) } ?? 0
        report.notes.append(
            "jobs that reached a worker during the whole run: \(workerJobs) (the priming one; hits never touch a queue); cache_hits counter before the timed run: \(before)"
        )
        return report
    }

    // MARK: - memory

    /// An idle worker's RSS, and a gateway's while it holds many waiting requests.
    func memory(_ rig: BenchRig) async throws -> ScenarioReport {
        var report = ScenarioReport(scenario: "memory", parameters: ["waiting_requests": "\(options.waitingRequests)"])
        try await rig.startSimulator(latencyMs: 0)
        let idle = try await rig.startWorkers(1, concurrency: options.workerConcurrency)[0]
        try await Task.sleep(for: .seconds(2))
        if let memory = idle.memory() { report.add("idle worker RSS", memory.rss, "MB", target: "≤ 20 MB", met: memory.rss <= 20) }
        if let sharing = idle.sharing() {
            report.add("idle worker anonymous memory (heap, stacks)", sharing.anonymous, "MB")
            report.add("idle worker PSS", sharing.pss, "MB")
            report.notes.append(
                "RSS counts the code pages of the Swift runtime, Foundation, ICU and libcurl's TLS libraries, which every worker process on a host shares; anonymous memory is the worker's own"
            )
        }
        // Where the RSS is: the largest resident mappings, by file.
        let mappings = idle.residentByMapping().prefix(8).map { "\(($0.name as NSString).lastPathComponent) \(String(format: "%.1f", $0.megabytes))" }
        if !mappings.isEmpty { report.notes.append("idle worker RSS by mapping (MB): " + mappings.joined(separator: ", ")) }
        await idle.stop()

        let (gatewayProcess, gateway) = try await rig.startGateway()
        let baseline = gatewayProcess.memory()?.rss ?? 0
        let model = rig.settings.tier(.tier1).model
        // No worker runs yet: every request waits in the gateway while its job sits queued.
        let requests = Task {
            await Load.closed(label: "waiting requests", total: options.waitingRequests, window: options.waitingRequests) { index, collector in
                let (status, ms) = await rig.post(
                    gateway + "/v1/chat/completions", body: Self.completionBody(model: model, text: "Summarize: waiting \(index)"),
                    timeout: .seconds(120))
                status == 200 ? collector.record(ms) : collector.fail("HTTP \(status)")
            }
        }
        let queue = RedisArgument(rig.keys.queue(.tier1))
        let deadline = ContinuousClock.now + .seconds(60)
        while try await rig.redis.send("LLEN", queue).integer ?? 0 < options.waitingRequests {
            guard ContinuousClock.now < deadline else { throw BenchError("the gateway did not queue \(options.waitingRequests) jobs within 60 s") }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(500))
        let holding = gatewayProcess.memory()
        _ = try await rig.startWorkers(1, concurrency: options.workerConcurrency)
        let outcome = await requests.value
        try Self.check(outcome, what: "waiting requests")
        if let holding {
            report.add(
                "gateway RSS holding \(options.waitingRequests) waits", holding.rss, "MB", baseline: ("idle gateway", baseline), target: "≤ 100 MB",
                met: holding.rss <= 100)
        }
        return report
    }

    // MARK: - helpers

    static func completionBody(model: String, text: String) -> Data {
        let body: [String: Any] = ["model": model, "messages": [["role": "user", "content": text]], "max_tokens": 16]
        return (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
    }

    static func hour() -> String {
        UTCTime(Date()).hourStamp
    }

    /// A load whose requests failed measured nothing: say so, with the first reason.
    static func check(_ outcome: LoadOutcome, what: String) throws {
        guard outcome.failures == 0 else {
            throw BenchError(
                "\(outcome.failures) of \(outcome.failures + outcome.samples.count) \(what) failed; first: \(outcome.firstFailure ?? "?")")
        }
    }
}

/// The bench's own producer: a Swift `Producer` plus the reply dispatcher a gateway uses,
/// sending tier-1 jobs, with the cache on as shipped unless a series says otherwise.
struct BenchProducer {
    let connection: RedisConnection
    let producer: Producer
    let dispatcher: ReplyDispatcher
    let route: Route

    init(rig: BenchRig, logger: Logger) throws {
        connection = RedisConnection(configuration: try RedisConfiguration(url: rig.settings.redis.url), name: "bench-producer", logger: logger)
        producer = Producer(settings: rig.settings, connection: connection)
        dispatcher = ReplyDispatcher(commands: connection, keys: rig.keys, logger: logger)
        dispatcher.start()
        route = Route(tier: 1, model: rig.settings.tier(.tier1).model, reason: "bench")
    }

    /// `total` jobs with `window` in flight; `text` gives each job's message.
    func run(label: String, total: Int, window: Int, cache: Bool = true, text: @escaping @Sendable (Int) -> String) async -> LoadOutcome {
        await Load.closed(label: label, total: total, window: window) { [producer, dispatcher, route] index, collector in
            guard
                let job = try? producer.makeJob(
                    messages: [ChatMessage(role: "user", content: text(index))], params: GenerationParameters(maxTokens: 16), cache: cache,
                    route: route
                )
            else { return collector.fail("cannot build a job") }
            await producer.timedRoundTrip(job, dispatcher: dispatcher, collector: collector)
        }
    }

    func close() {
        dispatcher.stop()
        producer.close()
        connection.close()
    }
}

extension BenchRig {
    /// Calls straight to an HTTP chat endpoint (the simulator, or a gateway), closed loop;
    /// `model` is tier 1's unless given (`"auto"` leaves routing to the pool).
    func chatCalls(
        _ url: String, label: String, total: Int, window: Int, model: String? = nil, text: @escaping @Sendable (Int) -> String
    ) async -> LoadOutcome {
        let model = model ?? settings.tier(.tier1).model
        return await Load.closed(label: label, total: total, window: window) { index, collector in
            let (status, ms) = await self.post(url, body: Bench.completionBody(model: model, text: text(index)))
            status == 200 ? collector.record(ms) : collector.fail("HTTP \(status)")
        }
    }

    /// The same at a fixed rate (open loop).
    func chatCalls(
        _ url: String, label: String, total: Int, rate: Double, model: String? = nil, text: @escaping @Sendable (Int) -> String
    ) async -> LoadOutcome {
        let model = model ?? settings.tier(.tier1).model
        return await Load.open(label: label, total: total, ratePerSecond: rate) { index, collector in
            let (status, ms) = await self.post(url, body: Bench.completionBody(model: model, text: text(index)))
            status == 200 ? collector.record(ms) : collector.fail("HTTP \(status)")
        }
    }
}
