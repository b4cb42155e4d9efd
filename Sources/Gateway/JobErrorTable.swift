import Hummingbird
import JobProtocol

/// What a client is told about a failed job: the result's code and a fixed message per code.
///
/// A result's own message is written by a worker and may quote a provider's address and error
/// body, which can echo the prompt, an internal host name or a key's prefix; it stays in the
/// worker's log and in Redis. Clients get only this table, so nothing a provider said reaches
/// them whatever a worker writes.
enum JobErrorTable {
    struct Entry {
        var status: HTTPResponse.Status
        var message: String
    }

    static let entries: [String: Entry] = [
        "deadline_exceeded": Entry(status: .gatewayTimeout, message: "no answer before the job's deadline; retry, or allow more time"),
        "queue_full": Entry(status: .serviceUnavailable, message: "the queue is full; retry shortly"),
        "provider_unavailable": Entry(status: .badGateway, message: "no model provider serves this job's tier; retry later"),
        "timeout_error": Entry(status: .badGateway, message: "the model provider did not answer in time; retry later"),
        "error_connection": Entry(status: .badGateway, message: "the model provider could not be reached; retry later"),
        "error_rate_limited": Entry(status: .badGateway, message: "the model provider is limiting requests; retry later"),
        "error_http_5xx": Entry(status: .badGateway, message: "the model provider failed; retry later"),
        "error_http_4xx": Entry(status: .badGateway, message: "the model provider refused the request; check the messages and parameters"),
        "error_bad_response": Entry(status: .badGateway, message: "the model provider's answer could not be read; retry later"),
        "error_context_length": Entry(status: .badGateway, message: "the conversation is too long for the model's context window; shorten it"),
        "error_unsupported_request": Entry(
            status: .badRequest,
            message:
                "the request cannot be sent to the model that serves it: Claude takes tools or a JSON response_format but not both, tool messages need a tool_call_id, and tool call arguments must be JSON objects"
        ),
        "empty_response": Entry(status: .badGateway, message: "the model returned an empty answer; retry or rephrase"),
        "invalid_job": Entry(status: .badGateway, message: "a worker could not read the job; it was set aside"),
        "poison_job": Entry(status: .badGateway, message: "the job was set aside: the process running it stopped while running it alone"),
        "bad_result": Entry(status: .badGateway, message: "the job's result could not be read"),
        "cancelled": Entry(status: .conflict, message: "the job was cancelled by its client"),
        "bad_cache_entry": Entry(status: .badGateway, message: "the cached answer could not be read; retry with cache disabled"),
    ]

    static let unknown = Entry(status: .badGateway, message: "the job failed")

    /// The code as the client sees it: a known code, or a short snake_case one (anything else,
    /// which no worker writes, becomes `job_failed`).
    static func publicCode(_ code: String?) -> String {
        guard let code, !code.isEmpty, code.utf8.count <= 64,
            code.utf8.allSatisfy({
                ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                    || $0 == UInt8(ascii: "_")
            })
        else { return "job_failed" }
        return code
    }

    static func entry(for code: String) -> Entry {
        entries[code] ?? unknown
    }

    /// The HTTP error for a failed result (synchronous endpoints).
    static func response(for result: JobResult) -> Response {
        let code = publicCode(result.error?.code)
        let entry = entry(for: code)
        return GatewayResponse.error(entry.status, code: code, message: entry.message)
    }

    /// A failed result with its message replaced by the table's (`GET /api/jobs/{id}`).
    static func redacted(_ result: JobResult) -> JobResult {
        guard !result.ok else { return result }
        let code = publicCode(result.error?.code)
        var copy = result
        copy.error = ResultError(code: code, message: entry(for: code).message)
        return copy
    }
}
