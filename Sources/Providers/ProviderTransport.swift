import CurlHTTP
import Foundation

/// Sends one JSON POST to a tier's endpoints, primary first, and maps failures to `ProviderError`.
///
/// A connection failure or a 5xx moves on to the next endpoint (the report's backup GPU
/// host); anything else (4xx, timeout, a bad body) is the answer, since another host would
/// only repeat it or double the wait.
///
/// Every call's outcome feeds the tier's `EndpointHealth`: connection failures, 5xx and
/// timeouts count toward opening an endpoint's circuit (a timeout still does not fail over
/// within the request, for the reason above, but a host that keeps timing out is skipped
/// by the requests after it); endpoints with an open circuit are skipped.
struct ProviderTransport: Sendable {
    let http: HTTPClient
    let endpoints: [String]
    let health: EndpointHealth

    func post(path: String, headers: [HTTPHeader], body: Data, timeout: Duration) async throws(ProviderError) -> (
        response: HTTPResponse, endpoint: String
    ) {
        let headers = headers + [HTTPHeader(name: "content-type", value: "application/json")]
        let secrets = Self.secrets(in: headers)
        return try await eachEndpoint { endpoint, admission, lastError async throws(ProviderError) in
            let request = HTTPRequest(method: "POST", url: Self.join(endpoint, path), headers: headers, body: body, timeout: timeout)
            return try await send(request, to: endpoint, as: admission, secrets: secrets, lastError: &lastError).map { ($0, endpoint) }
        }
    }

    /// Sends one JSON POST whose 2xx answer is an event stream, read by `consume` while it
    /// arrives; its value is the answer. The endpoints are tried as `post` tries them, as long as
    /// nothing was streamed: once bytes came, a failure is the answer (the caller may have
    /// shown them). When `consume` returns before the stream ended (its caller stopped it),
    /// the transfer is aborted.
    func stream<T: Sendable>(
        path: String, headers: [HTTPHeader], body: Data, timeout: Duration,
        consume: @escaping @Sendable (BodyStream, String) async -> Result<T, ProviderError>
    ) async throws(ProviderError) -> T {
        let headers =
            headers + [
                HTTPHeader(name: "content-type", value: "application/json"), HTTPHeader(name: "accept", value: "text/event-stream"),
            ]
        let secrets = Self.secrets(in: headers)
        let http = http
        return try await eachEndpoint { endpoint, admission, lastError async throws(ProviderError) in
            let request = HTTPRequest(method: "POST", url: Self.join(endpoint, path), headers: headers, body: body, timeout: timeout)
            let bodyStream = BodyStream()
            let (exchange, consumed) = await withTaskGroup(of: Result<HTTPResponse, HTTPClientError>.self) { group in
                group.addTask {
                    do throws(HTTPClientError) {
                        return .success(try await http.execute(request, streamingTo: bodyStream))
                    } catch {
                        return .failure(error)
                    }
                }
                let consumed = await consume(bodyStream, endpoint)
                group.cancelAll()
                return (await group.next()!, consumed)
            }
            let host = Self.host(endpoint)
            switch exchange {
            case .failure(let error):
                // The transfer was aborted because the reader had what it wanted.
                if error.code == .cancelled, case .success(let value) = consumed, !Task.isCancelled {
                    health.record(.success, for: endpoint, admission: admission)
                    return value
                }
                health.record(Self.breakerOutcome(for: error, host: host), for: endpoint, admission: admission)
                let mapped = Self.map(error, host: host)
                if error.code == .cancelled || error.code == .shutdown || bodyStream.receivedBytes > 0 || !mapped.isEndpointFailure {
                    throw mapped
                }
                lastError = mapped
                return nil
            case .success(let response):
                if let error = Self.error(for: response, host: host, request: body) {
                    health.record(Self.circuitOutcome(for: error, secrets: secrets), for: endpoint, admission: admission)
                    guard error.isEndpointFailure else { throw error }
                    lastError = error
                    return nil
                }
                health.record(.success, for: endpoint, admission: admission)
                return try consumed.get()
            }
        }
    }

    /// Tries `attempt` on each endpoint whose circuit admits a call, in order, until one gives
    /// an answer (non-nil) or throws; nil moves on, with `lastError` saying why.
    private func eachEndpoint<T>(
        _ attempt: (String, EndpointCircuit.Admission, inout ProviderError) async throws(ProviderError) -> T?
    ) async throws(ProviderError) -> T {
        var lastError = ProviderError(.connection, "no endpoint configured")
        var attempted = false
        for endpoint in endpoints {
            guard let admission = health.admit(endpoint) else { continue }
            attempted = true
            if let answer = try await attempt(endpoint, admission, &lastError) { return answer }
        }
        guard !attempted else { throw lastError }

        // Every circuit is open (or its one trial call is in flight), so try them all in
        // order anyway rather than refuse. The breaker exists to save time on a host known
        // to be failing while another can answer; with none that can, refusing would make
        // it an outage of its own: a cool-down is a guess and the host may be back, a
        // single-endpoint tier would refuse everything for the whole cool-down, and the
        // worker's fallback to Claude needs the provider's real error, not a made-up one.
        // The outcomes still feed the breaker, so the first success closes the circuit.
        // An endpoint paused by a 429 is the exception: it asked for fewer calls, and gets them.
        var pauses: [Duration] = []
        for endpoint in endpoints {
            if let pause = health.pauseRemaining(endpoint) {
                pauses.append(pause)
                continue
            }
            if let answer = try await attempt(endpoint, .bypass, &lastError) { return answer }
        }
        if pauses.count == endpoints.count, let shortest = pauses.min() {
            throw ProviderError(.rateLimited, "every endpoint is pausing after a 429 (rate limited)", retryAfter: shortest)
        }
        throw lastError
    }

    /// One attempt on one endpoint, recorded in the breaker: the response, nil to move on
    /// to the next endpoint (`lastError` then says why), or the error that is the answer.
    private func send(
        _ request: HTTPRequest, to endpoint: String, as admission: EndpointCircuit.Admission, secrets: [String],
        lastError: inout ProviderError
    ) async throws(ProviderError) -> HTTPResponse? {
        let host = Self.host(endpoint)
        let response: HTTPResponse
        do {
            response = try await http.execute(request)
        } catch {
            health.record(Self.breakerOutcome(for: error, host: host), for: endpoint, admission: admission)
            let mapped = Self.map(error, host: host)
            // A cancelled call or a closed client is ours, not the host's: the backup would
            // fail the same way at once.
            if error.code == .cancelled || error.code == .shutdown { throw mapped }
            guard mapped.isEndpointFailure else { throw mapped }
            lastError = mapped
            return nil
        }
        guard let error = Self.error(for: response, host: host, request: request.body) else {
            health.record(.success, for: endpoint, admission: admission)
            return response
        }
        health.record(Self.circuitOutcome(for: error, secrets: secrets), for: endpoint, admission: admission)
        guard error.isEndpointFailure else { throw error }
        lastError = error
        return nil
    }

    /// What an error status says about the host. A 4xx proves the host is up and would be the
    /// same elsewhere: neutral. A 429 pauses the endpoint for its Retry-After (1 s without one).
    static func circuitOutcome(for error: ProviderError, secrets: [String]) -> EndpointCircuit.Outcome {
        if error.isEndpointFailure { return .failure(EndpointHealth.redact(error.description, secrets: secrets)) }
        if error.code == .rateLimited { return .rateLimited(error.retryAfter ?? .seconds(1)) }
        return .neutral
    }

    /// What a failed exchange says about the host: connection errors, TLS errors and
    /// timeouts are its failures; a cancelled call or a shut-down client says nothing.
    static func breakerOutcome(for error: HTTPClientError, host: String, context: String = "") -> EndpointCircuit.Outcome {
        if error.code == .cancelled || error.code == .shutdown { return .neutral }
        return .failure(context + map(error, host: host).description)
    }

    /// The key-bearing header values, so an error body that echoes them is not stored.
    static func secrets(in headers: [HTTPHeader]) -> [String] {
        headers.compactMap { header -> String? in
            switch header.name.lowercased() {
            case "authorization":
                let value = header.value
                return value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst(7)) : value
            case "x-api-key", "api-key": return header.value
            default: return nil
            }
        }
    }

    /// `base` may be given with or without `/v1` and a trailing slash.
    static func join(_ base: String, _ path: String) -> String {
        var trimmed = base
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        if trimmed.hasSuffix("/v1") { trimmed.removeLast(3) }
        return trimmed + path
    }

    static func host(_ endpoint: String) -> String {
        URL(string: endpoint).flatMap { url in url.host.map { host in url.port.map { "\(host):\($0)" } ?? host } } ?? endpoint
    }

    static func map(_ error: HTTPClientError, host: String) -> ProviderError {
        switch error.code {
        case .timeout: return ProviderError(.timeout, "\(host) did not answer in time")
        default: return ProviderError(.connection, "\(host): \(error.message)")
        }
    }

    /// Non-2xx statuses as provider errors, with the server's own message from any of the
    /// error body shapes (see `ErrorBody`).
    ///
    /// A request over the engine's context (llama.cpp's `exceed_context_size_error`, OpenAI's
    /// and vLLM's `context_length_exceeded`) is `context_length`, not a generic 4xx: the
    /// fallback reason then says why the small model could not answer. `request` is the body
    /// that was sent, so that an engine message echoing part of it does not carry prompt text
    /// into a log.
    static func error(for response: HTTPResponse, host: String, request: Data? = nil) -> ProviderError? {
        let status = response.status
        guard !(200..<300).contains(status) else { return nil }
        let body = ErrorBody(response.body, request: request)
        let detail = body.message.map { ": \($0)" } ?? ""
        if status == 429 {
            let retryAfter = response.header("retry-after").flatMap(retryAfterDelay)
            return ProviderError(.rateLimited, "\(host) is rate limiting\(detail)", status: status, retryAfter: retryAfter)
        }
        if status >= 500 { return ProviderError(.http5xx, "\(host) answered \(status)\(detail)", status: status) }
        if status < 400 {
            return ProviderError(.badResponse, "\(host) answered \(status) (redirects are not followed; check the endpoint URL)", status: status)
        }
        if body.isContextLengthExceeded {
            return ProviderError(.contextLength, "\(host) answered \(status), the request exceeds its context\(detail)", status: status)
        }
        return ProviderError(.http4xx, "\(host) answered \(status)\(detail)", status: status)
    }

    /// `Retry-After` as seconds or an HTTP date, capped at an hour; nil when unreadable.
    ///
    /// A proxy may send anything here; a huge or non-finite value must not crash the worker.
    static func retryAfterDelay(_ value: String) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        var seconds: Double
        if let number = Double(text) {
            seconds = number
        } else {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            guard let date = formatter.date(from: text) else { return nil }
            seconds = date.timeIntervalSinceNow
        }
        guard seconds.isFinite else { return nil }
        seconds = min(max(seconds, 0), 3600)
        return .milliseconds(Int(seconds * 1000))
    }
}
