import CurlHTTP
import Foundation
import Logging

/// Streamed chat completions (`"stream": true`) read as a client reads them, each content
/// delta timed when it reaches this process.
///
/// One `HTTPClient` (libcurl's multi interface on one thread) drives every stream. Its
/// connection limits allow all of them at once: past the limit libcurl would queue requests,
/// and the wait would count as time to first token. The same client reads the simulator and
/// the gateway, so its own delays are in the baseline too and cancel out of "added" figures.
struct StreamLoad: Sendable {
    let http: HTTPClient

    /// A client for up to `streams` streams open at once.
    init(streams: Int, logger: Logger) throws {
        let connections = streams + 64
        http = try HTTPClient(configuration: .init(maxConnectionsPerHost: connections, maxTotalConnections: connections * 2), logger: logger)
    }

    func shutdown() { http.shutdown() }

    /// POSTs `body` to `url` and reads the OpenAI chunks to `data: [DONE]`; `onFirstToken`
    /// runs when the first content arrives. Cancelling the calling task hangs up.
    ///
    /// Throws for a status other than 200, an error chunk, or a stream that ends without its
    /// end marker.
    func stream(url: String, body: Data, timeout: Duration, onFirstToken: @escaping @Sendable (Double) -> Void = { _ in }) async throws -> StreamTrace
    {
        let request = HTTPRequest(
            method: "POST", url: url,
            headers: [HTTPHeader(name: "content-type", value: "application/json"), HTTPHeader(name: "accept", value: "text/event-stream")],
            body: body, timeout: timeout)
        let bodyStream = BodyStream()
        let http = self.http
        let started = ContinuousClock.now
        let sentAt = Date().timeIntervalSince1970
        return try await withThrowingTaskGroup(of: HTTPResponse.self) { group in
            group.addTask { try await http.execute(request, streamingTo: bodyStream) }
            var scanner = EventScanner()
            var trace = StreamTrace(sentAt: sentAt)
            var lastDelta: ContinuousClock.Instant?
            var failure: String?
            while let bytes = await bodyStream.next() {
                let now = ContinuousClock.now
                for event in scanner.feed(bytes) {
                    switch event {
                    case .done:
                        trace.complete = started.duration(to: now).milliseconds
                    case .error(let text):
                        failure = failure ?? text
                    case .content(let length) where length > 0:
                        if let lastDelta {
                            trace.gaps.append(lastDelta.duration(to: now).milliseconds)
                        } else {
                            let firstToken = started.duration(to: now).milliseconds
                            trace.firstToken = firstToken
                            trace.firstTokenAt = Date().timeIntervalSince1970
                            onFirstToken(firstToken)
                        }
                        lastDelta = now
                        trace.contentDeltas += 1
                        trace.contentCharacters += length
                    case .content, .other:
                        break
                    }
                }
            }
            guard let response = try await group.next() else { throw BenchError("the stream's transfer vanished") }
            guard response.status == 200 else {
                throw BenchError("HTTP \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
            }
            if let failure { throw BenchError("error chunk: \(failure)") }
            guard trace.complete != nil else { throw BenchError("the stream ended without data: [DONE]") }
            trace.jobID = response.header("x-cervella-job-id")
            return trace
        }
    }

    /// `total` streams with `window` open at once (closed loop); the first `warmUp` are not
    /// measured. The first window's starts are spread over `stagger` (about one stream's
    /// length), so that streams then begin and end at a steady rate, not in waves of `window`.
    func run(
        label: String, total: Int, window: Int, warmUp: Int, stagger: Duration, timeout: Duration = .seconds(120), url: String,
        body: @escaping @Sendable (Int) -> Data
    ) async -> StreamOutcome {
        let collector = StreamCollector()
        let started = ContinuousClock.now
        let slots = min(window, total)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await Load.progress(label: label, total: total) { collector.done } }
            await withTaskGroup(of: Void.self) { streams in
                for slot in 0..<slots {
                    streams.addTask {
                        try? await Task.sleep(until: started + stagger / slots * slot, clock: .continuous)
                        while true {
                            let index = collector.take()
                            guard index < total else { return }
                            do {
                                let trace = try await stream(url: url, body: body(index), timeout: timeout)
                                if index < warmUp { collector.skip() } else { collector.record(trace) }
                            } catch {
                                collector.fail("\(error)")
                            }
                        }
                    }
                }
            }
            group.cancelAll()
        }
        return collector.outcome(elapsed: started.duration(to: .now))
    }

    /// What ``hold(label:count:rate:within:url:body:whileOpen:)`` saw.
    struct Held<Value: Sendable>: Sendable {
        var value: Value
        /// Streams that had content and had not ended, the fewer of before and after `whileOpen`.
        var open: Int
        /// How long it took until all of them had content; nil when not all did within the limit.
        var allOpenAfter: Duration?
        /// Time to first token of the streams that had content.
        var firstToken: Samples
        var failures: Int
        var firstFailure: String?
    }

    /// Opens `count` streams, `rate` a second, and once every one has had content (or
    /// `within` has passed) calls `whileOpen` with the number open; then hangs up on them all.
    ///
    /// The streams start at a rate rather than all at once because each one makes the worker
    /// open a connection to the provider: a burst of thousands overflows the provider's listen
    /// backlog, and connections that take longer than the worker's connect timeout fail.
    func hold<Value: Sendable>(
        label: String, count: Int, rate: Double, within: Duration, url: String, body: @escaping @Sendable (Int) -> Data,
        whileOpen: @escaping @Sendable (Int) async throws -> Value
    ) async throws -> Held<Value> {
        let streams = OpenStreams()
        let started = ContinuousClock.now
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await Load.progress(label: label, total: count) { streams.open } }
            for index in 0..<count {
                try await Task.sleep(until: started + .seconds(Double(index) / rate), clock: .continuous)
                group.addTask {
                    do {
                        _ = try await stream(url: url, body: body(index), timeout: within + .seconds(120)) { streams.opened(index, after: $0) }
                        streams.ended(index, failure: nil)
                    } catch {
                        // The bench's own hang-up (below) is not a failure.
                        streams.ended(index, failure: Task.isCancelled ? nil : "\(error)")
                    }
                }
            }
            var allOpenAfter: Duration?
            while streams.ended < count {
                if streams.open == count {
                    allOpenAfter = started.duration(to: .now)
                    break
                }
                guard ContinuousClock.now < started + within else { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            let openBefore = streams.open
            let value = try await whileOpen(openBefore)
            let open = min(openBefore, streams.open)
            let failures = streams.failures
            group.cancelAll()
            return Held(
                value: value, open: open, allOpenAfter: allOpenAfter, firstToken: streams.firstToken, failures: failures.count,
                firstFailure: failures.first)
        }
    }
}
