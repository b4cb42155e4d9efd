import Bench
import CervellaTestSupport
import CurlHTTP
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// llama.cpp's OpenAI-compatible server with the tiny generated Qwen3 model, on a free
/// loopback port, for one test (`scripts/llm-server run`; see docs/ENGINES.md).
///
/// scripts/test installs the engine and names the script in `CERVELLA_TEST_LLM_SERVER`;
/// without it (a plain `swift test`) the real-engine tests are skipped. Each test starts its
/// own server, so one can be killed mid-request without touching the others. The server runs
/// with `--exit-with-parent`, so a crashed test run leaves none behind.
final class RealEngine: Sendable {
    static let environmentKey = "CERVELLA_TEST_LLM_SERVER"
    static let skipReason = "CERVELLA_TEST_LLM_SERVER is not set: run scripts/test, which installs llama.cpp's server (scripts/llm-server install)"

    static var script: String? { ProcessInfo.processInfo.environment[environmentKey] }
    static var isConfigured: Bool { script != nil }

    let port: Int
    let http: HTTPClient
    let pid: pid_t
    /// Set once the child has exited and been reaped.
    private let exited = Mutex(false)
    private let logFile: URL

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Reaps the child without blocking (WNOHANG), so polling it never holds a pool thread.
    var isRunning: Bool {
        exited.withLock { exited in
            guard !exited else { return false }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) { exited = true }
            return !exited
        }
    }

    private init(port: Int, pid: pid_t, logFile: URL, http: HTTPClient) {
        self.port = port
        self.pid = pid
        self.logFile = logFile
        self.http = http
    }

    /// Starts a server and waits until `/health` answers 200 (about 2 s). A port taken in the
    /// moment between choosing and binding it is retried on another.
    static func start(context: Int = 4096) async throws -> RealEngine {
        guard let script else { throw TestSetupError(skipReason) }
        let http = try HTTPClient()
        var lastLog = ""
        for _ in 0..<3 {
            let port = try LoopbackPort.free()
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-llm-\(UUID().uuidString).log")
            // One thread: the rest of the suite runs beside it on two cores.
            let pid = try spawn(script, ["run", "--port", "\(port)", "--ctx", "\(context)", "--threads", "1", "--exit-with-parent"], output: log.path)
            let engine = RealEngine(port: port, pid: pid, logFile: log, http: http)
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline && engine.isRunning {
                if let response = try? await http.execute(HTTPRequest(url: engine.baseURL + "/health", timeout: .seconds(2))), response.status == 200 {
                    return engine
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            lastLog = engine.logTail()
            await engine.stop()
        }
        http.shutdown()
        throw TestSetupError("llama.cpp's server did not answer /health with 200; its log ends:\n\(lastLog)")
    }

    /// The last lines the server wrote, for failure messages.
    func logTail(lines: Int = 15) -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// SIGKILL: the engine dies at once, with any request it was serving.
    func kill() {
        _ = Glibc.kill(pid, SIGKILL)
    }

    /// SIGTERM, then SIGKILL after 10 s; polls rather than blocking the cooperative pool.
    func stop() async {
        if isRunning { _ = Glibc.kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + .seconds(10)
        while isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if isRunning {
            _ = Glibc.kill(pid, SIGKILL)
            while isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        }
        try? FileManager.default.removeItem(at: logFile)
    }

    /// Stops the server and the test's HTTP client.
    func close() async {
        await stop()
        http.shutdown()
    }

    /// POSTs a chat completion body straight to the engine; the reply JSON as an object.
    func chat(_ body: [String: Any]) async throws -> (status: Int, json: [String: Any]) {
        let data = try JSONSerialization.data(withJSONObject: body)
        let request = HTTPRequest(method: "POST", url: baseURL + "/v1/chat/completions", headers: [HTTPHeader(name: "content-type", value: "application/json")], body: data, timeout: .seconds(60))
        let response = try await http.execute(request)
        guard let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
            throw TestSetupError("the engine's reply is not a JSON object: \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        return (response.status, object)
    }

    /// Whether a slot is generating right now (llama.cpp's `GET /slots`).
    func isProcessing() async -> Bool {
        guard let response = try? await http.execute(HTTPRequest(url: baseURL + "/slots", timeout: .seconds(2))),
              let slots = try? JSONSerialization.jsonObject(with: response.body) as? [[String: Any]]
        else { return false }
        return slots.contains { $0["is_processing"] as? Bool == true }
    }

    /// Starts `path` with `arguments`, stdin from /dev/null and stdout and stderr to `output`.
    ///
    /// posix_spawn rather than Foundation's `Process`: `Process.run()` on Linux (Swift 6.3)
    /// reads past a buffer while listing /proc/self/fd and now and then crashes the whole test
    /// process (swift-corelibs-foundation PR 5472); every spawn is a throw of that die.
    private static func spawn(_ path: String, _ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The test process's other descriptors (Redis and HTTP sockets) are closed by
        // `scripts/llm-server run` before it becomes the engine.
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard result == 0 else { throw TestSetupError("cannot start \(path): posix_spawn error \(result)") }
        return pid
    }

}

/// One chat completion as the engine sent it, for comparing with what Cervella made of it.
struct EngineCompletion {
    var content: String
    var tokens: [String]
    var logprobs: [Double]
    var completionTokens: Int
    var finishReason: String?

    init(_ json: [String: Any]) throws {
        guard let choice = (json["choices"] as? [[String: Any]])?.first,
              let message = choice["message"] as? [String: Any],
              let entries = (choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]],
              let usage = json["usage"] as? [String: Any], let completionTokens = usage["completion_tokens"] as? Int
        else { throw TestSetupError("not a chat completion with logprobs: \(json)") }
        content = message["content"] as? String ?? ""
        tokens = entries.map { $0["token"] as? String ?? "" }
        logprobs = entries.compactMap { ($0["logprob"] as? NSNumber)?.doubleValue }
        self.completionTokens = completionTokens
        finishReason = choice["finish_reason"] as? String
    }
}
