import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import RedisClient
import Testing

/// OpenAI's Batch API on the gateway, driven by the official `openai` package.
@Suite(.timeLimit(.minutes(5))) struct BatchAPITests {
    @Test func theOfficialOpenAIPackageRunsABatchEndToEnd() async throws {
        try await withTestPool(configure: { $0.worker.queues = ["fallback", "tier1", "tier3"] }) { pool in
            let (gateway, client) = try await GatewayTests().start(pool)
            let script = """
                import io, json, os, time, openai
                client = openai.OpenAI(base_url=os.environ["GATEWAY"] + "/v1", api_key=os.environ["KEY"])
                lines = [{"custom_id": f"task-{i}", "method": "POST", "url": "/v1/chat/completions",
                          "body": {"model": "auto", "messages": [{"role": "user", "content": f"Summarize: report {i} on queues."}], "max_tokens": 100}}
                         for i in range(6)]
                lines.append({"custom_id": "task-bad", "method": "POST", "url": "/v1/chat/completions",
                              "body": {"model": "auto", "messages": [{"role": "user", "content": "Broken.\\n#sim status=400"}], "max_tokens": 10}})
                data = "\\n".join(json.dumps(line) for line in lines).encode()
                uploaded = client.files.create(file=("requests.jsonl", io.BytesIO(data)), purpose="batch")
                print("file", uploaded.object, uploaded.bytes == len(data), uploaded.purpose)
                batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
                                              metadata={"job": "nightly"})
                print("created", batch.status, batch.request_counts.total, batch.metadata)
                for _ in range(600):
                    batch = client.batches.retrieve(batch.id)
                    if batch.status in ("completed", "failed", "cancelled", "expired"):
                        break
                    time.sleep(0.1)
                print("done", batch.status, batch.request_counts.completed, batch.request_counts.failed)
                output = [json.loads(line) for line in client.files.content(batch.output_file_id).text.splitlines()]
                print("output", sorted(line["custom_id"] for line in output) == [f"task-{i}" for i in range(6)],
                      all(line["response"]["status_code"] == 200 and line["response"]["body"]["choices"][0]["message"]["content"] for line in output))
                errors = [json.loads(line) for line in client.files.content(batch.error_file_id).text.splitlines()]
                print("errors", [line["custom_id"] for line in errors], errors[0]["response"]["status_code"])
                try:
                    client.batches.retrieve(batch.id, extra_headers={"Authorization": "Bearer second-key"})
                except openai.NotFoundError:
                    print("other key: not found")
                """
            let (status, text) = try await TestEnvironment.runPython(
                script, environment: ["GATEWAY": gateway.baseURL, "KEY": GatewayTests.userKey], seconds: 120)
            #expect(status == 0, "python said: \(text)")
            #expect(text.contains("file file True batch"), "\(text)")
            #expect(text.contains("created in_progress 7 {'job': 'nightly'}"), "\(text)")
            #expect(text.contains("done completed 6 1"), "\(text)")
            #expect(text.contains("output True True"), "\(text)")
            #expect(text.contains("errors ['task-bad']"), "\(text)")
            #expect(text.contains("other key: not found"), "\(text)")
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func aBadLineOrAnOversizedFileIsRefusedNamingIt() async throws {
        try await withTestPool(workers: 0) { pool in
            let gateway = try await pool.startGateway { settings in
                settings.gateway.apiKeys = [GatewayTests.userKey]
                settings.gateway.filesMaxBytes = 2_000
            }
            let http = try HTTPClient()
            func upload(_ content: String) async throws -> HTTPResponse {
                let boundary = "XbOuNdArY"
                let body =
                    "--\(boundary)\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--\(boundary)\r\n"
                    + "Content-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n\(content)\r\n--\(boundary)--\r\n"
                return try await http.execute(
                    HTTPRequest(
                        method: "POST", url: gateway.baseURL + "/v1/files",
                        headers: [
                            HTTPHeader(name: "authorization", value: "Bearer \(GatewayTests.userKey)"),
                            HTTPHeader(name: "content-type", value: "multipart/form-data; boundary=\(boundary)"),
                        ], body: Data(body.utf8)))
            }
            let big = try await upload(String(repeating: "x", count: 3_000))
            #expect(big.status == 413)
            #expect(String(decoding: big.body, as: UTF8.self).contains("gateway.files_max_bytes (2000 bytes)"))
            let good = #"{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"hi"}]}}"#
            let bad =
                #"{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2}}}"#
            let uploaded = try await upload(good + "\n" + bad)
            #expect(uploaded.status == 200)
            let file = try #require((try JSONSerialization.jsonObject(with: uploaded.body) as? [String: Any])?["id"] as? String)
            let created = try await http.execute(
                HTTPRequest(
                    method: "POST", url: gateway.baseURL + "/v1/batches",
                    headers: [
                        HTTPHeader(name: "authorization", value: "Bearer \(GatewayTests.userKey)"),
                        HTTPHeader(name: "content-type", value: "application/json"),
                    ], body: Data(#"{"input_file_id":"\#(file)","endpoint":"/v1/chat/completions","completion_window":"24h"}"#.utf8)))
            #expect(created.status == 400)
            let message = String(decoding: created.body, as: UTF8.self)
            #expect(message.contains("line 2 of \(file): unsupported field 'logit_bias'"), "\(message)")
            #expect(try await pool.redis.send("KEYS", RedisArgument(pool.keys.prefix + ":queue:*")).array?.isEmpty == true, "nothing was queued")
            await gateway.stop()
            http.shutdown()
        }
    }
}
