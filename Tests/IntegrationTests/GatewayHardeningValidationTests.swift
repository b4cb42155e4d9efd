import CervellaTestSupport
import CurlHTTP
import Foundation
import ProviderSimulator
import Testing

/// Issue 11, findings 4 and 11: bad parameters and non-JSON bodies are refused by the gateway,
/// before anything reaches a queue or a provider.
@Suite(.timeLimit(.minutes(3))) struct GatewayHardeningValidationTests {
    static let refused: [(path: String, body: String, says: String)] = [
        (
            "/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize."}],"max_tokens":-5}"#,
            "max_tokens must be between 1 and 32768, got -5"
        ),
        ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize."}],"max_tokens":0}"#, "max_tokens must be between 1 and 32768"),
        (
            "/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize."}],"max_tokens":9223372036854775807}"#,
            "max_tokens must be between 1 and 32768"
        ),
        (
            "/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize."}],"max_completion_tokens":40000}"#,
            "max_completion_tokens must be between 1 and 32768"
        ),
        ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize."}],"temperature":2.5}"#, "temperature must be between 0 and 2"),
        ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize."}],"top_p":0}"#, "top_p must be more than 0 and at most 1"),
        ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize."}],"top_p":1e999}"#, "top_p"),
        (
            "/v1/chat/completions", #"{"messages":[{"role":"user","content":"Hi"},{"role":"tool","content":"42"}]}"#,
            "messages[1]: a tool message needs tool_call_id, the id of the call it answers"
        ),
        (
            "/v1/chat/completions", #"{"messages":[{"role":"wizard","content":"Hi"}]}"#,
            "messages[0].role must be system, user, assistant or tool, got 'wizard'"
        ),
        ("/v1/chat/completions", #"{"messages":[{"role":"system","content":"Be brief."}]}"#, "has no user message"),
        (
            "/v1/chat/completions", #"{"messages":[{"role":"system","content":"x"},{"role":"user","content":[1,null,{"type":"image_url"}]}]}"#,
            "messages[1].content[0]: each content part must be an object"
        ),
        (
            "/v1/chat/completions", #"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"}]}]}"#,
            "messages[0].content[1]: an image_url part needs"
        ),
        (
            "/v1/chat/completions", #"{"messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
            "messages[0].content[0]: a text part needs a string 'text'"
        ),
        (
            "/v1/chat/completions", #"{"messages":[{"role":"user","content":[{"type":"audio_blob","data":"x"}]}]}"#,
            "part type 'audio_blob' is not supported"
        ),
        ("/v1/chat/completions", #"{"messages":[{"role":"user","content":[]}]}"#, "messages[0].content is an empty list"),
        ("/api/jobs", #"{"message":"Summarize.","max_tokens":0}"#, "max_tokens must be between 1 and 32768, got 0"),
        ("/api/jobs", #"{"message":"Summarize.","temperature":-1}"#, "temperature must be between 0 and 2"),
        ("/api/jobs", #"{"message":"Summarize.","timeout_seconds":1e300}"#, "timeout_seconds must be more than 0 and at most 86400"),
        (
            "/api/jobs", #"{"messages":[{"role":"tool","content":"42"}]}"#,
            "messages[0]: a tool message needs tool_call_id, the id of the call it answers"
        ),
        (
            "/api/jobs", #"{"messages":[{"role":"user","content":[{"type":"text","text":7}]}]}"#,
            "messages[0].content[0]: a text part needs a string 'text'"
        ),
        ("/api/jobs", #"{"message":"Summarize.","max_tokens":9223372036854775808}"#, "max_tokens"),
    ]

    @Test func badParametersAre400NamingTheFieldAndNoProviderIsCalled() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let before = pool.simulator.stats.total
            for (path, body, says) in Self.refused {
                let response = try await client.send("POST", path, json: body)
                #expect(response.status == 400, "\(path) \(body) answered \(response.status): \(client.text(response))")
                #expect(client.errorCode(response) == "invalid_request", "\(body)")
                #expect(client.errorMessage(response).contains(says), "\(body): \(client.errorMessage(response))")
            }
            // Give a job that slipped through the time to reach the simulator before counting.
            try await Task.sleep(for: .milliseconds(500))
            #expect(pool.simulator.stats.total == before, "a refused request reached a provider")
            // The limit is a setting, and a valid request still goes through.
            #expect(
                try await client.send(
                    "POST", "/v1/chat/completions",
                    json: #"{"messages":[{"role":"user","content":"Summarize the memo."}],"max_tokens":32768,"temperature":0,"top_p":1}"#
                ).status == 200)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    @Test func bodiesThatAreNotJSONAre415() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let chat = #"{"message":"Summarize the note."}"#
            let xml = try await client.send("POST", "/api/chat", json: chat, contentType: "application/xml")
            #expect(xml.status == 415)
            #expect(client.errorCode(xml) == "unsupported_media_type")
            let form = try await client.send("POST", "/api/chat", json: chat, contentType: "application/x-www-form-urlencoded")
            #expect(form.status == 415)
            #expect(client.errorMessage(form).contains("Content-Type: application/json"))
            #expect(try await client.send("POST", "/api/jobs", json: chat, contentType: "text/plain").status == 415)
            #expect(
                try await client.send(
                    "POST", "/api/admin/toggle-tier", json: #"{"tier":1,"enabled":true}"#, key: Hardening.adminKey, contentType: "text/xml"
                ).status == 415)
            #expect(pool.simulator.stats.total == 0)
            // JSON with parameters, a +json type, and no Content-Type at all are read as JSON.
            #expect(try await client.send("POST", "/api/chat", json: chat, contentType: "application/json; charset=utf-8").status == 200)
            #expect(try await client.send("POST", "/api/chat", json: chat, contentType: "Application/JSON").status == 200)
            #expect(try await client.send("POST", "/api/chat", json: chat, contentType: "application/vnd.cervella+json").status == 200)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    /// Extreme numbers in every numeric field of every body: a 2xx or a 4xx with a JSON error,
    /// never a 5xx, never a trap (the gateway runs in this process: a trap ends the run).
    @Test func extremeNumbersInEveryNumericFieldNeverGet5xx() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let numbers = [
                "1e300", "-1e300", "1e999", "-1e999", "-0.0", "0", "-1", "1e-320", "0.5",
                "9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551616",
            ]
            let templates: [(path: String, template: String, key: String)] = [
                ("/api/chat", #"{"message":"Summarize x.","context":{"n":@}}"#, Hardening.userKey),
                ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize y."}],"max_tokens":@}"#, Hardening.userKey),
                ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize y."}],"max_completion_tokens":@}"#, Hardening.userKey),
                ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize y."}],"temperature":@}"#, Hardening.userKey),
                ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize y."}],"top_p":@}"#, Hardening.userKey),
                ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Summarize y."}],"n":@}"#, Hardening.userKey),
                ("/api/jobs", #"{"message":"Summarize z.","max_tokens":@}"#, Hardening.userKey),
                ("/api/jobs", #"{"message":"Summarize z.","temperature":@}"#, Hardening.userKey),
                ("/api/jobs", #"{"message":"Summarize z.","timeout_seconds":@}"#, Hardening.userKey),
                ("/api/jobs", #"{"message":"Summarize z.","metadata":{"batch":@}}"#, Hardening.userKey),
                ("/api/jobs", #"{"message":"Summarize z.","context":{"n":[@]}}"#, Hardening.userKey),
                ("/api/admin/toggle-tier", #"{"tier":@,"enabled":true}"#, Hardening.adminKey),
            ]
            var statuses: [Int: Int] = [:]
            for (path, template, key) in templates {
                for number in numbers {
                    let body = template.replacingOccurrences(of: "@", with: number)
                    let response = try await client.send("POST", path, json: body, key: key)
                    statuses[response.status, default: 0] += 1
                    #expect(response.status < 500, "\(path) \(body) answered \(response.status): \(client.text(response))")
                    if response.status >= 400 { #expect(client.errorCode(response) != nil, "\(body)") }
                }
            }
            #expect(statuses[400, default: 0] > 0)
            #expect(statuses.keys.contains { (200..<300).contains($0) })
            #expect(try await client.send("POST", "/api/chat", json: #"{"message":"Summarize after the storm."}"#).status == 200)
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
