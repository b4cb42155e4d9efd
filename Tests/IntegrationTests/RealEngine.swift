import CervellaTestSupport
import CurlHTTP
import Foundation
import Spawn
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
    private let process: SpawnedProcess
    private let logFile: URL

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Reaps the child without blocking, so polling it never holds a pool thread.
    var isRunning: Bool { process.isRunning }

    private init(port: Int, process: SpawnedProcess, logFile: URL, http: HTTPClient) {
        self.port = port
        self.process = process
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
            // posix_spawn (SpawnedProcess), not Foundation's Process: see there.
            let process = try SpawnedProcess(
                executable: script, arguments: ["run", "--port", "\(port)", "--ctx", "\(context)", "--threads", "1", "--exit-with-parent"],
                environment: ProcessInfo.processInfo.environment, output: log.path
            )
            let engine = RealEngine(port: port, process: process, logFile: log, http: http)
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline && engine.isRunning {
                if let response = try? await http.execute(HTTPRequest(url: engine.baseURL + "/health", timeout: .seconds(2))), response.status == 200
                {
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
        process.signal(SIGKILL)
    }

    /// SIGTERM, then SIGKILL after 10 s; polls rather than blocking the cooperative pool.
    func stop() async {
        process.terminate()
        if await !process.waitForExit(seconds: 10) {
            process.signal(SIGKILL)
            await process.waitForExit()
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
        let request = HTTPRequest(
            method: "POST", url: baseURL + "/v1/chat/completions", headers: [HTTPHeader(name: "content-type", value: "application/json")], body: data,
            timeout: .seconds(60))
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
