import CurlHTTP
import Foundation
import Providers

/// Reads a gateway's server-sent events in a test, as a streaming client does: each event
/// with the time it arrived, and the option to hang up mid-stream.
struct EventStreamReader {
    struct Event {
        var name: String
        var data: String
        var id: String?
        var at: ContinuousClock.Instant

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:] }
    }

    struct Outcome {
        var status: Int
        var headers: [HTTPHeader]
        /// The body of a non-2xx answer (a 2xx body is in `events`).
        var body: Data
        var events: [Event]
        /// The client hung up (`keepReading` said no) before the stream ended.
        var hungUp: Bool

        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name }?.value }
        /// OpenAI chunks' content deltas, joined.
        var openAIText: String {
            events.compactMap { event in
                ((event.json["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
            }.joined()
        }
    }

    /// POSTs `json` (or GETs, without it) and reads the events until the stream ends or
    /// `keepReading` returns false, which closes the connection.
    static func read(
        _ http: HTTPClient, url: String, json: String? = nil, headers extra: [HTTPHeader] = [], timeout: Duration = .seconds(30),
        keepReading: @escaping @Sendable ([Event]) -> Bool = { _ in true }
    ) async throws -> Outcome {
        var headers = [HTTPHeader(name: "content-type", value: "application/json")] + extra
        if json == nil { headers.removeFirst() }
        let request = HTTPRequest(
            method: json == nil ? "GET" : "POST", url: url, headers: headers, body: json.map { Data($0.utf8) }, timeout: timeout)
        let body = BodyStream()
        let transfer = Task { try await http.execute(request, streamingTo: body) }
        var parser = ServerSentEvents()
        var events: [Event] = []
        var hungUp = false
        while let bytes = await body.next() {
            for event in try parser.feed(bytes) {
                events.append(Event(name: event.name, data: event.data, id: event.id, at: .now))
            }
            if !keepReading(events) {
                hungUp = true
                transfer.cancel()
                break
            }
        }
        if hungUp { return Outcome(status: 200, headers: [], body: Data(), events: events, hungUp: true) }
        let response = try await transfer.value
        return Outcome(status: response.status, headers: response.headers, body: response.body, events: events, hungUp: false)
    }
}
