import ArgumentParser
import Bench
import Foundation
import JobProtocol
import Logging

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract:
            "Measure the pool on this machine: throughput, gateway overhead, concurrency, cache hits, memory, streaming, lanes, shadow labels.",
        discussion: """
            Each scenario starts its own simulator (an instant or slow provider), worker and gateway
            processes from this binary, runs them against the configured Redis under a private key
            prefix, prints a table with every figure beside a baseline measured in the same run, and
            deletes its keys. Measure a release build: swift build -c release. See docs/BENCHMARKS.md.
            """
    )

    @OptionGroup var options: SettingsOptions

    @Argument(help: "Scenarios to run: throughput, overhead, concurrency, cache, memory, streaming, lanes, shadow, single-flight, backlog, or all.")
    var scenarios: [String] = ["all"]

    @Option(help: "Redis URL (default: the configuration's redis.url or REDIS_URL).")
    var redisURL: String?

    @Option(help: "throughput: jobs in the timed run.") var jobs: Int?
    @Option(help: "throughput: worker processes.") var workers: Int?
    @Option(help: "throughput, concurrency: jobs in flight at once (the producer's window).") var window: Int?
    @Option(help: "Each worker's --concurrency (throughput, overhead, cache).") var workerConcurrency: Int?
    @Option(help: "overhead, cache: requests per second.") var rate: Double?
    @Option(help: "overhead, cache: seconds of load per series.") var duration: Double?
    @Option(help: "concurrency: jobs, and the provider's latency in ms.") var concurrencyJobs: Int?
    @Option(help: "concurrency: the simulated provider's latency in ms.") var latencyMs: Int?
    @Option(help: "memory: requests held waiting by the gateway.") var waiting: Int?
    @Option(help: "throughput: the provider behind the workers: instant, simulator, or both.") var provider: String = "both"
    @Option(help: "streaming: streams open at once in each timed series.") var streams: Int?
    @Option(help: "streaming: measured rounds of --streams streams per series (after one of warm-up).") var streamRounds: Int?
    @Option(help: "streaming: the simulator's pause before each token, in ms (#sim token_ms).") var tokenMs: Int?
    @Option(help: "streaming: streams held open while the gateway's Redis connections are counted.") var holdStreams: Int?
    @Option(help: "lanes: jobs in the bulk batch.") var lanesBatchJobs: Int?
    @Option(help: "lanes: the batch's jobs per job group.") var lanesGroupSize: Int?
    @Option(help: "lanes: interactive requests per second through the gateway.") var lanesRate: Double?
    @Option(help: "lanes: seconds of interactive load per series.") var lanesSeconds: Double?
    @Option(help: "lanes: the simulated provider's latency in ms.") var lanesLatencyMs: Int?
    @Option(help: "shadow: requests per second through the gateway.") var shadowRate: Double?
    @Option(help: "shadow: seconds of load per series.") var shadowSeconds: Double?

    @Flag(help: "Small sizes: checks that every scenario works (CI), measures nothing worth quoting.")
    var smoke = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func run() async throws {
        JSONLogHandler.bootstrap(level: options.logLevel == "info" ? "warning" : options.logLevel)
        let logger = Logger(label: "cervella.bench")
        var settings = try options.loadSettings()
        if let redisURL { settings.redis.url = redisURL }

        let selected: [BenchScenario]
        if scenarios == ["all"] {
            selected = BenchScenario.allCases
        } else {
            selected = try scenarios.map { name in
                guard let scenario = BenchScenario(rawValue: name) else {
                    throw ValidationError("unknown scenario '\(name)'; use \(BenchScenario.allCases.map(\.rawValue).joined(separator: ", ")) or all")
                }
                return scenario
            }
        }
        var sizes = smoke ? BenchOptions.smoke : BenchOptions()
        if let jobs { sizes.jobs = jobs }
        if let workers { sizes.workers = workers }
        if let window { sizes.window = window }
        if let workerConcurrency { sizes.workerConcurrency = workerConcurrency }
        if let rate { sizes.rate = rate }
        if let lanesBatchJobs { sizes.lanesBatchJobs = lanesBatchJobs }
        if let lanesRate { sizes.lanesRate = lanesRate }
        if let lanesGroupSize { sizes.lanesGroupSize = lanesGroupSize }
        if let lanesSeconds { sizes.lanesSeconds = lanesSeconds }
        if let lanesLatencyMs { sizes.lanesLatencyMs = lanesLatencyMs }
        if let shadowRate { sizes.shadowRate = shadowRate }
        if let shadowSeconds { sizes.shadowSeconds = shadowSeconds }
        if let duration { sizes.durationSeconds = duration }
        if let concurrencyJobs { sizes.concurrencyJobs = concurrencyJobs }
        if let latencyMs { sizes.concurrencyLatencyMs = latencyMs }
        if let waiting { sizes.waitingRequests = waiting }
        if let streams { sizes.streams = streams }
        if let streamRounds { sizes.streamRounds = streamRounds }
        if let tokenMs { sizes.tokenMs = tokenMs }
        if let holdStreams { sizes.manyHeldStreams = holdStreams }
        guard ["instant", "simulator", "both"].contains(provider) else { throw ValidationError("--provider must be instant, simulator or both") }
        sizes.instantSeries = provider != "simulator"
        sizes.simulatorSeries = provider != "instant"
        guard sizes.jobs > 0, sizes.workers > 0, sizes.window > 0, sizes.workerConcurrency > 0, sizes.rate > 0, sizes.durationSeconds > 0 else {
            throw ValidationError("sizes, rates and durations must be positive")
        }
        guard sizes.streams > 0, sizes.streamRounds > 0, sizes.tokenMs >= 0, sizes.manyHeldStreams > 0 else {
            throw ValidationError("--streams, --stream-rounds and --hold-streams must be positive, --token-ms at least 0")
        }
        guard (1...1_000_000).contains(sizes.lanesBatchJobs), (1...JobLimits.maxGroupChildren).contains(sizes.lanesGroupSize), sizes.lanesRate > 0,
            sizes.lanesRate <= 10_000, sizes.lanesSeconds > 0,
            sizes.lanesSeconds <= 3_600, (0...60_000).contains(sizes.lanesLatencyMs)
        else {
            throw ValidationError(
                "--lanes-batch-jobs must be 1 to 1,000,000, --lanes-group-size 1 to 10,000, --lanes-rate above 0 (at most 10,000), --lanes-seconds above 0 (at most 3,600), --lanes-latency-ms 0 to 60,000"
            )
        }
        guard sizes.shadowRate > 0, sizes.shadowRate <= 10_000, sizes.shadowSeconds > 0, sizes.shadowSeconds <= 3_600 else {
            throw ValidationError("--shadow-rate must be above 0 (at most 10,000), --shadow-seconds above 0 (at most 3,600)")
        }

        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let bench = Bench(binary: binary, settings: settings, options: sizes, logger: logger)
        var reports: [ScenarioReport] = []
        #if DEBUG
            let build = "debug"
            print("note: this is a debug build; quote figures from a release build (swift build -c release)")
        #else
            let build = "release"
        #endif
        for scenario in selected {
            FileHandle.standardError.write(Data("running \(scenario.rawValue)…\n".utf8))
            var report = try await bench.run(scenario)
            if smoke {
                // Small sizes on a debug build measure nothing the targets speak of.
                for index in report.rows.indices { report.rows[index].met = nil }
                report.notes.append("smoke run: targets not judged")
            }
            print(report.table())
            print("")
            reports.append(report)
        }
        if let json {
            let run = BenchRun(
                startedAt: ISO8601DateFormatter().string(from: Date()), host: ProcessInfo.processInfo.hostName,
                cores: ProcessInfo.processInfo.activeProcessorCount, build: build,
                redis: settings.redis.url.replacingOccurrences(of: #"//[^@/]*@"#, with: "//***@", options: .regularExpression), scenarios: reports
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(run).write(to: URL(fileURLWithPath: json))
        }
        if reports.contains(where: { $0.rows.contains { $0.met == false } }) && !smoke {
            print("some targets were missed (MISSED above)")
        }
    }
}
