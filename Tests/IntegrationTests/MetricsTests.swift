import CervellaTestSupport
import CurlHTTP
import Foundation
import Spawn
import Testing

/// A real Prometheus server scrapes a gateway and a worker (separate processes, so their
/// counters hold only this test's requests) and answers PromQL with the numbers sent.
@Suite(.timeLimit(.minutes(2))) struct MetricsTests {
    @Test func prometheusScrapesTheGatewayAndAWorker() async throws {
        guard let prometheus = ProcessInfo.processInfo.environment["CERVELLA_TEST_PROMETHEUS"], !prometheus.isEmpty else {
            throw TestSetupError("CERVELLA_TEST_PROMETHEUS is not set: run scripts/test, which installs Debian's prometheus")
        }
        try await withTestPool(workers: 0) { pool in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cervella-metrics-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let (workerPort, gatewayPort, prometheusPort) = (try LoopbackPort.free(), try LoopbackPort.free(), try LoopbackPort.free())
            let keys = ["CERVELLA_API_KEYS": "metrics-key"]
            let worker = try pool.launch(["worker", "--metrics-port", String(workerPort)], environment: keys)
            let gateway = try pool.launch(["gateway", "--port", String(gatewayPort)], environment: keys)
            try """
            global: { scrape_interval: 1s, evaluation_interval: 1s }
            scrape_configs:
              - job_name: cervella
                static_configs: [{ targets: ["127.0.0.1:\(workerPort)", "127.0.0.1:\(gatewayPort)"] }]
            """.write(to: directory.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
            let server = try SpawnedProcess(
                executable: prometheus,
                arguments: [
                    "--config.file=\(directory.path)/prometheus.yml", "--storage.tsdb.path=\(directory.path)/data",
                    "--web.listen-address=127.0.0.1:\(prometheusPort)", "--log.level=error",
                ],
                environment: ProcessInfo.processInfo.environment
            )
            defer {
                for process in [worker, gateway, server] { process.signal(SIGKILL) }
            }

            let http = try HTTPClient()
            defer { http.shutdown() }
            let sent = 7
            for index in 0..<sent {
                var status = 0
                for _ in 0..<50 where status != 200 {
                    let response = try? await http.execute(
                        HTTPRequest(
                            method: "POST", url: "http://127.0.0.1:\(gatewayPort)/api/chat",
                            headers: [
                                HTTPHeader(name: "authorization", value: "Bearer metrics-key"),
                                HTTPHeader(name: "content-type", value: "application/json"),
                            ],
                            body: Data(#"{"message":"Summarize metric \#(index)."}"#.utf8), timeout: .seconds(20)
                        ))
                    status = response?.status ?? 0
                    if status != 200 { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(status == 200)
            }

            func query(_ promql: String) async throws -> Double? {
                let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
                let response = try await http.execute(
                    HTTPRequest(url: "http://127.0.0.1:\(prometheusPort)/api/v1/query?query=\(encoded)", timeout: .seconds(5)))
                guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
                    let result = (object["data"] as? [String: Any])?["result"] as? [[String: Any]],
                    let value = result.first?["value"] as? [Any], let text = value.last as? String
                else { return nil }
                return Double(text)
            }
            var tierOne: Double?
            var gatewayCount: Double?
            for _ in 0..<60 where tierOne != Double(sent) || gatewayCount != Double(sent) {
                try await Task.sleep(for: .milliseconds(500))
                tierOne = try? await query(#"sum(cervella_requests_total{tier="1",outcome="answered"})"#)
                gatewayCount = try? await query(#"sum(cervella_http_requests_total{route="/api/chat",status="200"})"#)
            }
            #expect(tierOne == Double(sent))
            #expect(gatewayCount == Double(sent))
        }
    }
}
