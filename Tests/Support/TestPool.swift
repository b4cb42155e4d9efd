import ControlPlane
import Foundation
import Gateway
import JobProtocol
import Logging
import Producer
import ProviderSimulator
import RedisClient
import ServiceLifecycle
import Settings
import Spawn
import Synchronization
import WorkerPool

/// Where the test scripts put the shared services.
public enum TestEnvironment {
    /// The redis-server that scripts/test started on a free loopback port.
    public static func redisURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["CERVELLA_TEST_REDIS_URL"] else {
            throw TestSetupError("CERVELLA_TEST_REDIS_URL is not set: run the suite with scripts/test, which starts redis-server")
        }
        return url
    }

    /// The `cervella` executable built by scripts/test.
    public static func cervellaBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["CERVELLA_BIN"] { return path }
        let guess = FileManager.default.currentDirectoryPath + "/.build/debug/cervella"
        guard FileManager.default.isExecutableFile(atPath: guess) else {
            throw TestSetupError("CERVELLA_BIN is not set and \(guess) does not exist: run scripts/test")
        }
        return guess
    }

    /// A Python with the `redis` package (scripts/test makes one).
    public static func python() throws -> String {
        guard let path = ProcessInfo.processInfo.environment["CERVELLA_TEST_PYTHON"] else {
            throw TestSetupError("CERVELLA_TEST_PYTHON is not set: run scripts/test, which creates a venv with the redis package")
        }
        return path
    }

    /// Runs `script` with the suite's Python (posix_spawn, output to a file) and waits for it
    /// without blocking a thread of the cooperative pool; its exit status (nil when it was still
    /// running after `seconds` and was killed) and everything it printed.
    public static func runPython(_ script: String, environment extra: [String: String], seconds: Double) async throws -> (
        status: Int32?, output: String
    ) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-python-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let process = try SpawnedProcess(
            executable: try python(), arguments: ["-c", script],
            environment: ProcessInfo.processInfo.environment.merging(extra) { $1 }, output: log
        )
        // A guard against a hung script, not a speed check: at least 90 s, since the whole
        // suite runs at once on two cores and a Python start with `import openai` can take
        // most of a 30 s budget there.
        if await !process.waitForExit(seconds: max(seconds, 90)) {
            process.signal(SIGKILL)
            await process.waitForExit()
            return (nil, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        return (process.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    public static var logger: Logger {
        var logger = Logger(label: "cervella.test")
        logger.logLevel = ProcessInfo.processInfo.environment["CERVELLA_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A provider simulator on a free port, running until `stop()`.
public final class RunningSimulator: Sendable {
    public let port: Int
    public let stats: SimulatorStats
    private let group: TestServiceGroup

    private init(port: Int, stats: SimulatorStats, group: TestServiceGroup) {
        self.port = port
        self.stats = stats
        self.group = group
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public static func start(configuration: SimulatorConfiguration = SimulatorConfiguration(port: 0)) async throws -> RunningSimulator {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let simulator = ProviderSimulator(
            configuration: configuration, logger: TestEnvironment.logger,
            onListening: { port in
                continuation.yield(port)
                continuation.finish()
            })
        let group = TestServiceGroup(simulator)
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestSetupError("the simulator did not start") }
        return RunningSimulator(port: port, stats: simulator.stats, group: group)
    }

    public func stop() async {
        await group.stop()
    }
}

/// A whole pool for one test: its own key prefix, a simulator, optionally an in-process
/// worker, and a producer.
public final class TestPool: Sendable {
    public let settings: CervellaSettings
    public let keys: KeySpace
    public let simulator: RunningSimulator
    public let redis: RedisConnection
    public let producer: Producer
    private let workers: Mutex<[(Worker, Task<Void, any Error>)]>

    public init(configure: (inout CervellaSettings) -> Void = { _ in }, workers workerCount: Int = 1, simulator shared: RunningSimulator? = nil)
        async throws
    {
        let simulator: RunningSimulator
        if let shared { simulator = shared } else { simulator = try await RunningSimulator.start() }
        var settings = CervellaSettings()
        settings.redis.url = try TestEnvironment.redisURL()
        settings.redis.keyPrefix = "cvtest:\(UUID().uuidString.prefix(12))"
        settings.worker.blockTimeoutSeconds = 0.5
        settings.worker.heartbeatIntervalSeconds = 0.5
        settings.worker.heartbeatTTLSeconds = 5
        settings.worker.reaperIntervalSeconds = 0.5
        settings.worker.statsFlushSeconds = 0.1
        settings.worker.concurrency = 16
        for tier in Tier.allCases {
            var tierSettings = settings.tier(tier)
            tierSettings.endpoints = [simulator.baseURL]
            if tier == .claude { tierSettings.apiKey = "sk-ant-test" }
            settings.tiers[tier] = tierSettings
        }
        configure(&settings)
        try settings.validate()
        self.settings = settings
        self.keys = KeySpace(prefix: settings.redis.keyPrefix)
        self.simulator = simulator
        self.redis = RedisConnection(configuration: try RedisConfiguration(url: settings.redis.url), name: "test")
        self.producer = Producer(settings: settings, connection: redis)
        self.workers = Mutex([])
        try await startWorkers(workerCount)
    }

    /// Starts in-process workers named `test-worker-<n>`.
    public func startWorkers(_ count: Int) async throws {
        for _ in 0..<count {
            let index = workers.withLock { $0.count }
            let worker = try Worker(settings: settings, id: "test-worker-\(index)", probation: probationLauncher(), logger: TestEnvironment.logger)
            let task = Task { try await worker.run() }
            workers.withLock { $0.append((worker, task)) }
        }
    }

    /// Runs the `cervella` executable against this pool (its Redis, key prefix and simulator),
    /// in a fresh directory holding `config` as worker.toml when given.
    /// Its output goes to `output.log` in that directory. Started with posix_spawn: Foundation's
    /// `Process.run` can crash the test process on Linux (see `SpawnedProcess`).
    public func launch(_ arguments: [String], config: String? = nil, environment extra: [String: String] = [:]) throws -> SpawnedProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var arguments = arguments
        if let config {
            let file = directory.appendingPathComponent("worker.toml")
            try config.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["--config", file.path]
        }
        return try SpawnedProcess(
            executable: try TestEnvironment.cervellaBinary(),
            arguments: arguments + ["--log-level", ProcessInfo.processInfo.environment["CERVELLA_TEST_LOG_LEVEL"] ?? "warning"],
            environment: processEnvironment(extra), directory: directory.path, output: directory.appendingPathComponent("output.log").path
        )
    }

    /// The environment that points a `cervella` process at this pool.
    func processEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["REDIS_URL"] = settings.redis.url
        environment["CERVELLA_KEY_PREFIX"] = keys.prefix
        environment["QWEN3_ENDPOINT"] = simulator.baseURL
        environment["DEEPSEEK_ENDPOINT"] = simulator.baseURL
        environment["CLAUDE_ENDPOINT"] = simulator.baseURL + "/v1"
        environment["CLAUDE_API_KEY"] = "sk-ant-test"
        environment.merge(extra) { $1 }
        return environment
    }

    /// In-process workers start their probation processes (for quarantined jobs) from the
    /// `cervella` executable, pointed at this pool like `launch`.
    func probationLauncher() -> ProbationLauncher? {
        guard let binary = try? TestEnvironment.cervellaBinary() else { return nil }
        let environment = processEnvironment()
        let level = ProcessInfo.processInfo.environment["CERVELLA_TEST_LOG_LEVEL"] ?? "warning"
        return ProbationLauncher { id in
            try SpawnedProcess(
                executable: binary, arguments: ["worker", "--probation", "--worker-id", id, "--log-level", level], environment: environment,
                output: FileManager.default.temporaryDirectory.appendingPathComponent(
                    "cervella-probation-\(id.replacingOccurrences(of: "/", with: "-")).log"
                ).path
            )
        }
    }

    /// Starts an in-process gateway on a free port; returns its base URL and a stop function.
    public func startGateway(configure: (inout CervellaSettings) -> Void = { _ in }) async throws -> RunningGateway {
        var settings = self.settings
        configure(&settings)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let gateway = try GatewayServer(
            settings: settings, port: 0, logger: TestEnvironment.logger,
            onListening: { port in
                continuation.yield(port)
                continuation.finish()
            })
        let group = TestServiceGroup(gateway)
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestSetupError("the gateway did not start") }
        return RunningGateway(baseURL: "http://127.0.0.1:\(port)", group: group)
    }

    /// Sends one user message through the pool and waits for its result. The default deadline
    /// is long (60 s): the whole suite runs its tests at once on two cores, and a job that
    /// takes a second alone has taken over 20 s there; a test about deadlines sets its own.
    public func ask(
        _ text: String, system: String? = nil, tierHint: String = "auto", forceModel: String? = nil, tier: Int? = nil, cache: Bool = true,
        timeout: Double = 60, params: GenerationParameters = .init()
    ) async throws -> JobResult {
        try await producer.submit(
            try job(text, system: system, tierHint: tierHint, forceModel: forceModel, tier: tier, cache: cache, timeout: timeout, params: params))
    }

    public func job(
        _ text: String, system: String? = nil, tierHint: String = "auto", forceModel: String? = nil, tier: Int? = nil, cache: Bool = true,
        timeout: Double = 60, params: GenerationParameters = .init()
    ) throws -> Job {
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: text))
        let route = tier.map { Route(tier: $0, model: Tier($0).map { settings.tier($0).model } ?? "", reason: "test_route") }
        return try producer.makeJob(
            messages: messages, params: params, tierHint: tierHint, forceModel: forceModel, cache: cache, timeoutSeconds: timeout, route: route)
    }

    /// Waits until every in-process worker has read live switches that satisfy `condition`
    /// (they re-read them every 250 ms); false when one has not within `timeout`.
    public func workersSee(_ condition: (LiveFlags) -> Bool, timeout: Duration = .seconds(10)) async -> Bool {
        let current = workers.withLock { $0.map(\.0) }
        return await eventually(timeout: timeout) { current.allSatisfy { condition($0.liveFlags) } }
    }

    /// Waits until the workers have added their counts to the hourly stats: they flush every
    /// `worker.stats_flush_seconds` (0.1 s here), not inside each job's commit.
    public func settleStats() async throws {
        try await Task.sleep(for: .milliseconds(Int(settings.worker.statsFlushSeconds * 1000) * 3))
    }

    /// Stops the workers (graceful drain), the simulator, and deletes this test's keys.
    public func stop() async {
        for (worker, task) in workers.withLock({ $0 }) {
            worker.requestShutdown()
            _ = await task.result
        }
        await simulator.stop()
        if let keys = try? await redis.send("KEYS", RedisArgument(self.keys.prefix + ":*")).array, !keys.isEmpty {
            _ = try? await redis.send(RedisCommand("DEL", arguments: keys.compactMap(\.bytes).map { RedisArgument(bytes: $0) }))
        }
        producer.close()
        redis.close()
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` has passed; true when it held.
/// A test waits on what it needs, not on a fixed sleep that a loaded machine can outlast.
public func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(20))
    }
}

/// Starts a pool, runs `body` with it, and stops everything the pool started (workers, the
/// simulator, the test's keys) when `body` returns, and also when it throws or is cancelled.
public func withTestPool<T>(
    configure: (inout CervellaSettings) -> Void = { _ in }, workers: Int = 1, simulator: RunningSimulator? = nil,
    _ body: (TestPool) async throws -> T
) async throws -> T {
    let pool = try await TestPool(configure: configure, workers: workers, simulator: simulator)
    do {
        let result = try await body(pool)
        await pool.stop()
        return result
    } catch {
        await pool.stop()
        throw error
    }
}

/// A gateway started by a test.
public struct RunningGateway: Sendable {
    public let baseURL: String
    let group: TestServiceGroup

    public func stop() async {
        await group.stop()
    }
}

/// One server of a test in a `ServiceGroup`, stopped by a graceful shutdown: cancelling its
/// task instead can drop a connection NIO has just accepted and trap the test process
/// ("Deinited NIOAsyncWriter without calling finish()", swift-nio #2637).
final class TestServiceGroup: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(_ service: some Service) {
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: service)], gracefulShutdownSignals: [], logger: TestEnvironment.logger))
        self.group = group
        self.task = Task { try await group.run() }
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}
