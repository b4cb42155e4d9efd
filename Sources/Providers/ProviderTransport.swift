import CurlHTTP
import Foundation

/// Sends one JSON POST to a tier's endpoints, primary first, and maps failures to `ProviderError`.
///
/// A connection failure or a 5xx moves on to the next endpoint (the report's backup GPU
/// host); anything else (4xx, timeout, a bad body) is the answer, since another host would
/// only repeat it or double the wait.
struct ProviderTransport: Sendable {
    let http: HTTPClient
    let endpoints: [String]

    func post(path: String, headers: [HTTPHeader], body: Data, timeout: Duration) async throws(ProviderError) -> (response: HTTPResponse, endpoint: String) {
        var lastError = ProviderError(.connection, "no endpoint configured")
        for endpoint in endpoints {
            let url = Self.join(endpoint, path)
            let request = HTTPRequest(method: "POST", url: url, headers: headers + [HTTPHeader(name: "content-type", value: "application/json")], body: body, timeout: timeout)
            do {
                let response = try await http.execute(request)
                if let error = Self.error(for: response, host: Self.host(endpoint)) {
                    lastError = error
                    if error.isEndpointFailure { continue }
                    throw error
                }
                return (response, endpoint)
            } catch let error as ProviderError {
                throw error
            } catch let error as HTTPClientError {
                let mapped = Self.map(error, host: Self.host(endpoint))
                lastError = mapped
                if mapped.isEndpointFailure { continue }
                throw mapped
            } catch {
                throw ProviderError(.connection, "\(Self.host(endpoint)): \(error)")
            }
        }
        throw lastError
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

    /// Non-2xx statuses as provider errors, with the message from either error body shape.
    static func error(for response: HTTPResponse, host: String) -> ProviderError? {
        let status = response.status
        guard !(200..<300).contains(status) else { return nil }
        let detail = errorMessage(response.body).map { ": \($0)" } ?? ""
        if status == 429 {
            let retryAfter = response.header("retry-after").flatMap(retryAfterDelay)
            return ProviderError(.rateLimited, "\(host) is rate limiting\(detail)", status: status, retryAfter: retryAfter)
        }
        if status >= 500 { return ProviderError(.http5xx, "\(host) answered \(status)\(detail)", status: status) }
        if status < 400 {
            return ProviderError(.badResponse, "\(host) answered \(status) (redirects are not followed; check the endpoint URL)", status: status)
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

    /// Reads `error.message` (OpenAI, Anthropic, llama.cpp) or a top-level `message` (vLLM).
    static func errorMessage(_ body: Data) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return String(message.prefix(300)) }
        if let error = object["error"] as? String { return String(error.prefix(300)) }
        if let message = object["message"] as? String { return String(message.prefix(300)) }
        return nil
    }
}
