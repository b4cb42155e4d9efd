import CurlHTTP
import Foundation
import Testing

/// Cancellation, shutdown and many requests in flight on the client's one thread.
@Suite struct HTTPClientLifecycleTests {
    @Test func cancellationFailsPromptlyAndFreesTheConnection() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        // One connection per host: if the cancelled transfer were not removed from libcurl,
        // the follow-up request would wait behind it for ten seconds.
        let client = try HTTPClient(configuration: .init(maxConnectionsPerHost: 1))
        defer { client.shutdown() }
        let slowURL = server.url("/delay/10000")
        let task = Task { try await client.execute(HTTPRequest(url: slowURL)) }
        try await Task.sleep(for: .milliseconds(300))

        let cancelledAt = ContinuousClock.now
        task.cancel()
        let result = await task.result

        // Generous bounds: tests share two CPU cores; a missed cancellation takes ten seconds.
        #expect(ContinuousClock.now - cancelledAt < .seconds(6))
        #expect((result.failure as? HTTPClientError)?.code == .cancelled)

        let followUpStarted = ContinuousClock.now
        let followUp = try await client.execute(HTTPRequest(url: server.url("/status/200"), timeout: .seconds(10)))
        #expect(followUp.status == 200)
        #expect(ContinuousClock.now - followUpStarted < .seconds(5))
    }

    @Test func alreadyCancelledTaskFailsWithoutSending() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }
        let url = server.url("/delay/10000")

        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.execute(HTTPRequest(url: url))
        }
        let started = ContinuousClock.now
        let result = await task.result

        #expect((result.failure as? HTTPClientError)?.code == .cancelled)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func shutdownFailsPendingRequestsAndLaterOnes() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        let slowURL = server.url("/delay/10000")
        let tasks = (0..<5).map { _ in
            Task { try await client.execute(HTTPRequest(url: slowURL)) }
        }
        try await Task.sleep(for: .milliseconds(300))

        let shutdownAt = ContinuousClock.now
        client.shutdown()
        var codes: [HTTPClientError.Code?] = []
        for task in tasks {
            codes.append((await task.result.failure as? HTTPClientError)?.code)
        }

        #expect(codes == Array(repeating: .shutdown, count: 5))
        #expect(ContinuousClock.now - shutdownAt < .seconds(5))
        let late = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPRequest(url: server.url("/status/200")))
        }
        #expect(late?.code == .shutdown)
        client.shutdown()  // idempotent: returns at once
    }

    @Test func droppingTheClientStopsItsThread() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        var client: HTTPClient? = try HTTPClient()
        let response = try await client?.execute(HTTPRequest(url: server.url("/status/200")))
        #expect(response?.status == 200)

        client = nil  // deinit shuts down; the test hangs here if it cannot
        #expect(client == nil)
    }

    @Test func threeHundredConcurrentRequestsShareOneThread() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }
        let url = server.url("/delay/200")
        let started = ContinuousClock.now

        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<300 {
                group.addTask { try await client.execute(HTTPRequest(url: url)).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }

        let elapsed = ContinuousClock.now - started
        #expect(statuses.count == 300)
        #expect(statuses.allSatisfy { $0 == 200 })
        // Serially this takes 60 s; 64 connections per host make it about 1 s.
        #expect(elapsed < .seconds(20))
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
