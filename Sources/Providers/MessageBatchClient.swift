import CurlHTTP
import Foundation
import JobProtocol
import Settings

/// Anthropic's Message Batches API (`/v1/messages/batches`): many Messages requests sent as one
/// batch, answered within 24 hours at half the price.
///
/// Create, retrieve, cancel, and the results file read line by line as it arrives (one JSON
/// object per line, in no particular order: entries are matched by `custom_id`). Every call
/// goes to the tier's first endpoint: a batch lives on the service that created it, so its
/// id means nothing to a backup host. Failures are `ProviderError`s, as for a Messages call;
/// the API key goes in a header and into no message.
public struct MessageBatchClient: Sendable {
    let http: HTTPClient
    let endpoint: String
    let apiKey: String?
    let version: String
    /// Timeout of each create, retrieve and cancel call.
    public var timeout: Duration = .seconds(60)

    /// The API's own limits per batch: entries and bytes of the create body.
    public static let maxEntries = 100_000
    public static let maxBodyBytes = 256_000_000
    /// The longest results line read; a longer one fails the read (its entry cannot be matched).
    public static let maxResultLineBytes = 16 << 20
    /// The most results bytes waiting to be read (`BodyStream`'s limit).
    public static let maxUnreadResultBytes = 64 << 20
    /// The custom ids the API takes: `^[a-zA-Z0-9_-]{1,64}$`.
    public static func isValidCustomID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy(isIDByte)
    }

    public init(settings: TierSettings, http: HTTPClient) {
        self.http = http
        self.endpoint = settings.endpoints.first ?? "https://api.anthropic.com"
        self.apiKey = settings.apiKey
        self.version = settings.anthropicVersion
    }

    /// A batch as the API reports it.
    public struct Batch: Sendable, Equatable {
        public var id: String
        /// `in_progress`, `canceling` or `ended`.
        public var processingStatus: String
        public var processing: Int
        public var succeeded: Int
        public var errored: Int
        public var canceled: Int
        public var expired: Int
        public var resultsURL: String?

        public var ended: Bool { processingStatus == "ended" }
    }

    /// One line of a batch's results.
    public struct Result: Sendable {
        public enum Outcome: Sendable {
            /// The Messages reply, as `/v1/messages` would have returned it.
            case succeeded(JSONValue)
            /// The error's type (`invalid_request_error`, `api_error`, …); its message is not
            /// kept, as it can quote the request.
            case errored(String)
            case expired
            case canceled
        }

        public var customID: String
        public var outcome: Outcome
    }

    /// One entry's `params`: the Messages request body of `request`, and whether its answer
    /// will come as the forced answer tool's input (see `AnthropicWire`).
    public static func params(model: String, request: ProviderRequest) throws(ProviderError) -> (body: [UInt8], forcedAnswer: Bool) {
        do { return try AnthropicWire.body(model: model, request: request) } catch {
            throw ProviderError(.unsupportedRequest, "the request cannot be sent to Claude: \(error.message)")
        }
    }

    /// Creates a batch of `entries` (custom id, Messages body from `params`).
    public func create(_ entries: [(customID: String, params: [UInt8])]) async throws(ProviderError) -> Batch {
        guard !entries.isEmpty, entries.count <= Self.maxEntries else {
            throw ProviderError(.unsupportedRequest, "a Message Batch holds 1 to \(Self.maxEntries) requests, not \(entries.count)")
        }
        var body: [UInt8] = []
        body.reserveCapacity(entries.reduce(32) { $0 + $1.params.count + 96 })
        body += Array(#"{"requests":["#.utf8)
        for (index, entry) in entries.enumerated() {
            guard Self.isValidCustomID(entry.customID) else {
                throw ProviderError(.unsupportedRequest, "custom id '\(entry.customID)' does not match ^[a-zA-Z0-9_-]{1,64}$")
            }
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += Array(#"{"custom_id":""#.utf8) + Array(entry.customID.utf8) + Array(#"","params":"#.utf8)
            body += entry.params
            body.append(UInt8(ascii: "}"))
        }
        body += Array("]}".utf8)
        guard body.count <= Self.maxBodyBytes else {
            throw ProviderError(.unsupportedRequest, "a Message Batch body is at most \(Self.maxBodyBytes) bytes, not \(body.count)")
        }
        return try Self.batch(from: try await send("POST", path: "/v1/messages/batches", body: Data(body)))
    }

    public func retrieve(_ id: String) async throws(ProviderError) -> Batch {
        let safe = try Self.pathSafe(id)
        return try Self.batch(from: try await send("GET", path: "/v1/messages/batches/\(safe)"))
    }

    public func cancel(_ id: String) async throws(ProviderError) -> Batch {
        let safe = try Self.pathSafe(id)
        return try Self.batch(from: try await send("POST", path: "/v1/messages/batches/\(safe)/cancel"))
    }

    /// Reads an ended batch's results, handing each line to `handle` as it arrives; `handle` returning
    /// false stops the read. Lines over `maxResultLineBytes`, or that are not results, fail it.
    public func results(_ batch: Batch, timeout: Duration = .seconds(600), handle: @Sendable (Result) async -> Bool) async throws(ProviderError) {
        // Built from the endpoint, not taken from `results_url`: the API key goes with the
        // request, so it goes only to the host it was configured for.
        let safe = try Self.pathSafe(batch.id)
        let url = ProviderTransport.join(endpoint, "/v1/messages/batches/\(safe)/results")
        let request = HTTPRequest(method: "GET", url: url, headers: headers, body: nil, timeout: timeout)
        // Results arrive faster than they are committed: up to 64 MiB may wait unread. Past it
        // the read fails and is retried later, from the entries still unanswered.
        let stream = BodyStream(limit: Self.maxUnreadResultBytes)
        let host = ProviderTransport.host(endpoint)
        let http = http
        let outcome: (Swift.Result<HTTPResponse, HTTPClientError>, ProviderError?) = await withTaskGroup(
            of: Swift.Result<HTTPResponse, HTTPClientError>.self
        ) { group in
            group.addTask {
                do throws(HTTPClientError) { return .success(try await http.execute(request, streamingTo: stream)) } catch {
                    return .failure(error)
                }
            }
            var failure: ProviderError?
            var line: [UInt8] = []
            var stopped = false
            reading: while let chunk = await stream.next() {
                var start = chunk.startIndex
                while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    line += chunk[start..<newline]
                    start = chunk.index(after: newline)
                    if !line.isEmpty {
                        guard let result = Self.result(line) else {
                            failure = ProviderError(.badResponse, "\(host) returned a results line that is not a Message Batches result")
                            break reading
                        }
                        if await !handle(result) {
                            stopped = true
                            break reading
                        }
                    }
                    line.removeAll(keepingCapacity: true)
                }
                line += chunk[start...]
                if line.count > Self.maxResultLineBytes {
                    failure = ProviderError(.badResponse, "\(host) returned a results line over \(Self.maxResultLineBytes) bytes")
                    break reading
                }
            }
            if failure == nil, !stopped, !line.isEmpty {
                if let result = Self.result(line) {
                    _ = await handle(result)
                } else {
                    failure = ProviderError(.badResponse, "\(host) returned a results line that is not a Message Batches result")
                }
            }
            if failure != nil || stopped { group.cancelAll() }
            return (await group.next()!, failure)
        }
        if let failure = outcome.1 { throw failure }
        switch outcome.0 {
        case .failure(let error):
            throw ProviderTransport.map(error, host: host)
        case .success(let response):
            if let error = ProviderTransport.error(for: response, host: host) { throw error }
        }
    }

    /// The provider's answer from a succeeded entry's message, as `complete` would return it.
    public static func response(message: JSONValue, model: String, forcedAnswer: Bool, request: ProviderRequest) -> ProviderResponse? {
        guard message["type"]?.stringValue ?? "message" == "message", let blocks = message["content"]?.arrayValue else { return nil }
        return AnthropicProvider.response(
            blocks: blocks, stopReason: message["stop_reason"]?.stringValue, usage: message["usage"],
            model: message["model"]?.stringValue ?? model, forcedAnswer: forcedAnswer, request: request)
    }

    private var headers: [HTTPHeader] {
        [HTTPHeader(name: "x-api-key", value: apiKey ?? ""), HTTPHeader(name: "anthropic-version", value: version)]
    }

    private func send(_ method: String, path: String, body: Data? = nil) async throws(ProviderError) -> JSONValue {
        guard let apiKey, !apiKey.isEmpty else {
            throw ProviderError(.http4xx, "no Claude API key: set CLAUDE_API_KEY (or the tier's api_key_env / api_key_file)", status: 401)
        }
        var headers = headers
        if body != nil { headers.append(HTTPHeader(name: "content-type", value: "application/json")) }
        let request = HTTPRequest(method: method, url: ProviderTransport.join(endpoint, path), headers: headers, body: body, timeout: timeout)
        let host = ProviderTransport.host(endpoint)
        let response: HTTPResponse
        do { response = try await http.execute(request) } catch { throw ProviderTransport.map(error, host: host) }
        if let error = ProviderTransport.error(for: response, host: host, request: body) { throw error }
        guard let reply = JSONValue.read(Array(response.body)) else {
            throw ProviderError(.badResponse, "\(host) returned a body that is not JSON", status: response.status)
        }
        return reply
    }

    /// A batch id is put in a URL path: only the characters of Anthropic's ids (`msgbatch_…`).
    static func pathSafe(_ id: String) throws(ProviderError) -> String {
        guard (1...128).contains(id.utf8.count), id.utf8.allSatisfy(isIDByte) else {
            throw ProviderError(.badResponse, "a Message Batch id holds characters no batch id has")
        }
        return id
    }

    /// `[a-zA-Z0-9_-]`.
    static func isIDByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D || byte == 0x5F
    }

    /// A `message_batch` object; counts are range-checked (0 to `maxEntries`).
    static func batch(from value: JSONValue) throws(ProviderError) -> Batch {
        guard value["type"]?.stringValue == "message_batch", let id = value["id"]?.stringValue, !id.isEmpty,
            let status = value["processing_status"]?.stringValue
        else {
            throw ProviderError(.badResponse, "the reply is not a message_batch object")
        }
        func count(_ name: String) throws(ProviderError) -> Int {
            let number = value["request_counts"]?[name]?.intValue ?? 0
            guard (0...Self.maxEntries).contains(number) else {
                throw ProviderError(.badResponse, "request_counts.\(name) is outside 0 to \(Self.maxEntries)")
            }
            return number
        }
        return Batch(
            id: id, processingStatus: status, processing: try count("processing"), succeeded: try count("succeeded"),
            errored: try count("errored"), canceled: try count("canceled"), expired: try count("expired"),
            resultsURL: value["results_url"]?.stringValue)
    }

    /// One results line, or nil when it is not one.
    static func result(_ line: [UInt8]) -> Result? {
        guard let value = JSONValue.read(line), let customID = value["custom_id"]?.stringValue, let type = value["result"]?["type"]?.stringValue
        else { return nil }
        switch type {
        case "succeeded":
            guard let message = value["result"]?["message"] else { return nil }
            return Result(customID: customID, outcome: .succeeded(message))
        case "errored":
            let kind = value["result"]?["error"]?["error"]?["type"]?.stringValue ?? value["result"]?["error"]?["type"]?.stringValue ?? "error"
            return Result(customID: customID, outcome: .errored(kind))
        case "expired": return Result(customID: customID, outcome: .expired)
        case "canceled": return Result(customID: customID, outcome: .canceled)
        default: return nil
        }
    }
}
