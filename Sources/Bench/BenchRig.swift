import CurlHTTP
import Foundation
import JobProtocol
import Logging
import RedisClient
import Settings
import Spawn
import WorkerPool

/// What one scenario runs on: the user's Redis under a private key prefix, and simulator,
/// worker and gateway processes started from the same `cervella` binary. `shutdown()`
/// stops them and deletes every key the run wrote.
final class BenchRig: @unchecked Sendable {
    let binary: String
    let settings: CervellaSettings
    let keys: KeySpace
    let redis: RedisConnection
    let http: HTTPClient
    let logDirectory: String
    let logger: Logger
    private var children: [ChildProcess] = []
    private(set) var simulatorURL = ""
    private(set) var simulator: ChildProcess?

    init(binary: String, settings base: CervellaSettings, logger: Logger, httpConnections: Int = 512) throws {
        self.binary = binary
        var settings = base
        settings.redis.keyPrefix = "cervella-bench:\(UUID().uuidString.prefix(8).lowercased())"
        self.settings = settings
        self.keys = KeySpace(prefix: settings.redis.keyPrefix)
        self.logger = logger
        self.redis = RedisConnection(configuration: try RedisConfiguration(url: settings.redis.url), name: "bench", logger: logger)
        self.http = try HTTPClient(
            configuration: .init(maxConnectionsPerHost: httpConnections, maxTotalConnections: httpConnections * 2), logger: logger)
        logDirectory = NSTemporaryDirectory() + "cervella-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
    }

    /// The environment every child gets: this run's Redis, key prefix and simulator.
    private var childEnvironment: [String: String] {
        [
            "REDIS_URL": settings.redis.url, "CERVELLA_KEY_PREFIX": keys.prefix,
            "QWEN3_ENDPOINT": simulatorURL, "DEEPSEEK_ENDPOINT": simulatorURL,
            "CLAUDE_ENDPOINT": simulatorURL + "/v1", "CLAUDE_API_KEY": "sk-ant-bench",
        ]
    }

    private func spawn(_ name: String, _ arguments: [String]) throws -> ChildProcess {
        // No --config: children run in the log directory, where no worker.toml is, so they use
        // the built-in defaults plus the environment above.
        let child = try ChildProcess(
            binary: binary, name: name, arguments: arguments + ["--log-level", "warning"],
            environment: childEnvironment, logDirectory: logDirectory, workingDirectory: logDirectory
        )
        children.append(child)
        return child
    }

    /// Starts `cervella sim` answering after `latencyMs`, and waits for its `/health`.
    @discardableResult
    func startSimulator(latencyMs: Int = 0) async throws -> ChildProcess {
        defer { simulator = children.last }
        let port = try LoopbackPort.free()
        let child = try spawn("sim", ["sim", "--port", String(port), "--latency-ms", String(latencyMs)])
        simulatorURL = "http://127.0.0.1:\(port)"
        try await waitForHTTP(simulatorURL + "/health", child: child)
        return child
    }

    /// Starts `count` worker processes and waits until each one's heartbeat is in Redis.
    /// `config` is TOML for the workers (for example `[tier1] kind = "instant"`).
    func startWorkers(_ count: Int, queues: String = "tier1", concurrency: Int, config: String? = nil) async throws -> [ChildProcess] {
        var extra: [String] = []
        if let config {
            let path = "\(logDirectory)/worker-\(children.count).toml"
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            extra = ["--config", path]
        }
        var started: [ChildProcess] = []
        for index in 0..<count {
            started.append(
                try spawn("worker-\(children.count)-\(index)", ["worker", "--queues", queues, "--concurrency", String(concurrency)] + extra))
        }
        let deadline = ContinuousClock.now + .seconds(30)
        for child in started {
            let key = RedisArgument(keys.worker(WorkerIdentity.forProcess(child.pid)))
            while try await redis.send("EXISTS", key).integer != 1 {
                guard child.isRunning else { throw BenchError("the worker exited at start:\n\(child.tail())") }
                guard ContinuousClock.now < deadline else { throw BenchError("the worker sent no heartbeat within 30 s; its log: \(child.logPath)") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return started
    }

    /// Starts `cervella gateway` on a free port (no keys: loopback only) and waits for
    /// `/healthz` (`/readyz` also wants a Claude worker, which a scenario may not start).
    /// `config` is TOML for the gateway (for example `[gateway] request_timeout_seconds = 300`).
    func startGateway(config: String? = nil) async throws -> (ChildProcess, String) {
        let port = try LoopbackPort.free()
        var extra: [String] = []
        if let config {
            let path = "\(logDirectory)/gateway-\(children.count).toml"
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            extra = ["--config", path]
        }
        let child = try spawn("gateway", ["gateway", "--host", "127.0.0.1", "--port", String(port)] + extra)
        let url = "http://127.0.0.1:\(port)"
        try await waitForHTTP(url + "/healthz", child: child)
        return (child, url)
    }

    private func waitForHTTP(_ url: String, child: ChildProcess) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard child.isRunning else { throw BenchError("\(child.name) exited at start:\n\(child.tail())") }
            if let response = try? await http.execute(HTTPRequest(url: url, timeout: .seconds(1))), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("\(child.name) did not answer \(url) within 30 s; its log: \(child.logPath)")
    }

    /// The Redis traffic the workers' heartbeats report, summed, from heartbeats written after
    /// `since` (seconds since the epoch): waits up to a heartbeat interval for them.
    func workerTraffic(_ workers: [ChildProcess], since: Double) async throws -> (commands: Int, roundTrips: Int) {
        var commands = 0
        var roundTrips = 0
        let deadline = ContinuousClock.now + .seconds(settings.worker.heartbeatIntervalSeconds * 3 + 5)
        for worker in workers {
            let key = RedisArgument(keys.worker(WorkerIdentity.forProcess(worker.pid)))
            while true {
                let text = try await redis.send("GET", key).bytes.map { Data($0) }
                let beat = text.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
                if let beat, let at = beat["at"] as? Double, at > since,
                    let sent = beat["redis_commands"] as? Int, let trips = beat["redis_round_trips"] as? Int
                {
                    commands += sent
                    roundTrips += trips
                    break
                }
                guard ContinuousClock.now < deadline else { throw BenchError("no fresh heartbeat from \(worker.name); its log: \(worker.logPath)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return (commands, roundTrips)
    }

    /// The redis-server's pid when it runs on this machine (INFO server), to read its CPU time.
    func redisServerPID() async -> Int32? {
        guard let info = try? await redis.send("INFO", "server").string,
            let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("process_id:") }),
            let pid = Int32(line.dropFirst("process_id:".count).trimmingCharacters(in: .whitespaces)),
            FileManager.default.fileExists(atPath: "/proc/\(pid)/stat")
        else { return nil }
        return pid
    }

    /// `INFO commandstats` as calls per command (lower-case names).
    func commandCalls() async throws -> [String: Int] {
        let info = try await redis.send("INFO", "commandstats").string ?? ""
        var calls: [String: Int] = [:]
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let parts = line.dropFirst("cmdstat_".count).split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let field = parts[1].split(separator: ",").first(where: { $0.hasPrefix("calls=") }) else { continue }
            calls[String(parts[0])] = Int(field.dropFirst("calls=".count))
        }
        return calls
    }

    /// POSTs JSON and returns the status and the latency in milliseconds.
    func post(_ url: String, body: Data, timeout: Duration = .seconds(60)) async -> (status: Int, milliseconds: Double) {
        let started = ContinuousClock.now
        let request = HTTPRequest(
            method: "POST", url: url, headers: [HTTPHeader(name: "content-type", value: "application/json")], body: body, timeout: timeout)
        let status = (try? await http.execute(request))?.status ?? 0
        return (status, started.duration(to: .now).milliseconds)
    }

    /// Stops the children and deletes this run's keys.
    func shutdown() async {
        for child in children.reversed() { await child.stop() }
        children.removeAll()
        var cursor = "0"
        repeat {
            guard let reply = try? await redis.send("SCAN", RedisArgument(cursor), "MATCH", RedisArgument(keys.prefix + ":*"), "COUNT", 1000).array,
                reply.count == 2
            else { break }
            cursor = reply[0].string ?? "0"
            let found = reply[1].array?.compactMap(\.bytes) ?? []
            if !found.isEmpty { _ = try? await redis.send(RedisCommand("UNLINK", arguments: found.map { RedisArgument(bytes: $0) })) }
        } while cursor != "0"
        redis.close()
        http.shutdown()
    }
}
