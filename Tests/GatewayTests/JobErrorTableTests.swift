import Foundation
import Hummingbird
import HummingbirdTesting
import JobProtocol
import Testing

@testable import Gateway

/// A failed job reaches a client as its code and a fixed message: nothing a worker or a
/// provider wrote (docs/GATEWAY.md, "Error texts").
@Suite struct JobErrorTableTests {
    static let leaky = "POST http://10.1.2.3:8000/v1/chat/completions: 400 {\"error\": \"prompt 'my secret' too long\"}"

    @Test func knownCodesPassAndAnythingElseBecomesJobFailed() {
        #expect(JobErrorTable.publicCode("error_http_4xx") == "error_http_4xx")
        #expect(JobErrorTable.publicCode("some_new_code_2") == "some_new_code_2")
        #expect(JobErrorTable.publicCode(nil) == "job_failed")
        #expect(JobErrorTable.publicCode("") == "job_failed")
        #expect(JobErrorTable.publicCode("Error HTTP") == "job_failed")
        #expect(JobErrorTable.publicCode("http://10.1.2.3") == "job_failed")
        #expect(JobErrorTable.publicCode(String(repeating: "a", count: 65)) == "job_failed")
    }

    @Test func eachCodeHasItsStatusAndMessage() {
        #expect(JobErrorTable.entry(for: "deadline_exceeded").status == .gatewayTimeout)
        #expect(JobErrorTable.entry(for: "queue_full").status == .serviceUnavailable)
        #expect(JobErrorTable.entry(for: "error_http_4xx").status == .badGateway)
        #expect(JobErrorTable.entry(for: "error_http_4xx").message == "the model provider refused the request; check the messages and parameters")
        #expect(JobErrorTable.entry(for: "never_heard_of_it").message == "the job failed")
        #expect(JobErrorTable.entry(for: "never_heard_of_it").status == .badGateway)
        // The one exception: a request the serving model's wire format cannot carry is the
        // client's to change, found before any call.
        #expect(JobErrorTable.entry(for: "error_unsupported_request").status == .badRequest)
        // And a job its own client cancelled.
        #expect(JobErrorTable.entry(for: "cancelled").status == .conflict)
        for (code, entry) in JobErrorTable.entries where code != "error_unsupported_request" && code != "cancelled" {
            #expect(!entry.message.isEmpty, "\(code)")
            #expect(entry.status.code >= 500, "\(code): a failed job is the server side's failure")
        }
    }

    @Test func aFailedResultLosesItsWorkersMessage() {
        let failed = JobResult.failure(id: "j1", code: "error_http_4xx", message: Self.leaky)
        let redacted = JobErrorTable.redacted(failed)
        #expect(redacted.id == "j1")
        #expect(!redacted.ok)
        #expect(
            redacted.error
                == ResultError(code: "error_http_4xx", message: "the model provider refused the request; check the messages and parameters"))
        let odd = JobErrorTable.redacted(.failure(id: "j2", code: "Weird Code", message: Self.leaky))
        #expect(odd.error == ResultError(code: "job_failed", message: "the job failed"))
    }

    @Test func aSuccessfulResultIsPassedUnchanged() {
        let metadata = ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 5, queueMs: 1, confidence: 0.9, costUSD: 0, tokensInput: 1, tokensOutput: 2,
            tierDecisionReason: "r", worker: "w", timestamp: "2026-01-10T14:23:45Z"
        )
        let result = JobResult.success(id: "j1", response: "answer", metadata: metadata)
        #expect(JobErrorTable.redacted(result) == result)
    }

    @Test func theSynchronousErrorCarriesOnlyTheTablesWords() async throws {
        let response = JobErrorTable.response(for: .failure(id: "j1", code: "timeout_error", message: Self.leaky))
        let served = try await Served.response(response)
        #expect(served.status == .badGateway)
        #expect(served.headers[.contentType] == "application/json")
        let object = try JSONSerialization.jsonObject(with: Data(served.body.readableBytesView)) as? [String: [String: String]]
        #expect(
            object?["error"] == ["code": "timeout_error", "message": "the model provider did not answer in time; retry later", "type": "api_error"])
        #expect(!String(buffer: served.body).contains("10.1.2.3"))
    }

    @Test func errorTypesFollowOpenAIsNames() throws {
        func type(_ status: HTTPResponse.Status) throws -> String? {
            let object =
                try JSONSerialization.jsonObject(with: Data(GatewayResponse.errorBody(status, code: "c", message: "m")))
                as? [String: [String: String]]
            return object?["error"]?["type"]
        }
        #expect(try type(.unauthorized) == "authentication_error")
        #expect(try type(.forbidden) == "permission_error")
        #expect(try type(.notFound) == "not_found_error")
        #expect(try type(.contentTooLarge) == "request_too_large")
        #expect(try type(.tooManyRequests) == "rate_limit_error")
        #expect(try type(.unsupportedMediaType) == "invalid_request_error")
        #expect(try type(.badGateway) == "api_error")
    }
}
