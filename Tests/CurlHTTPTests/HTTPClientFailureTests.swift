import CurlHTTP
import Foundation
import Testing

/// Requests that fail map to the right `HTTPClientError.Code` and leak no secrets.
@Suite struct HTTPClientFailureTests {
    @Test func slowResponseTimesOut() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }
        let started = ContinuousClock.now

        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(
                HTTPRequest(
                    url: server.url("/delay/10000?key=secret-query"),
                    headers: [HTTPHeader(name: "Authorization", value: "Bearer secret-token")],
                    timeout: .milliseconds(300)
                )
            )
        }

        #expect(error?.code == .timeout)
        #expect(ContinuousClock.now - started < .seconds(5))
        let message = error?.message ?? ""
        #expect(message.contains("127.0.0.1"))
        #expect(!message.contains("secret"))
        #expect(!message.contains("/delay"))
    }

    @Test func refusedConnectionIsAConnectionError() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }

        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(server.closedPort)/"))
        }

        #expect(error?.code == .connection)
    }

    @Test func connectionClosedWithoutAnswerIsAConnectionError() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }

        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPRequest(url: server.url("/close")))
        }

        #expect(error?.code == .connection)
    }

    @Test func tlsToAPlainHTTPServerIsATLSError() async throws {
        let server = try await HTTPFixture.start()
        defer { server.stop() }
        let client = try HTTPClient()
        defer { client.shutdown() }

        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(
                HTTPRequest(url: "https://127.0.0.1:\(server.port)/status/200", timeout: .seconds(5))
            )
        }

        #expect(error?.code == .tls)
    }

    @Test(arguments: [
        "ftp://127.0.0.1/file",
        "file:///etc/passwd",
        "http://exa mple.com/",
    ])
    func unusableURLsAreInvalidRequests(url: String) async throws {
        let client = try HTTPClient()
        defer { client.shutdown() }

        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPRequest(url: url))
        }

        #expect(error?.code == .invalidRequest)
    }

    @Test func headerInjectionIsRejectedBeforeSending() async throws {
        let client = try HTTPClient()
        defer { client.shutdown() }

        let badValue = await #expect(throws: HTTPClientError.self) {
            try await client.execute(
                HTTPRequest(url: "http://127.0.0.1:1/", headers: [HTTPHeader(name: "X-A", value: "secret\r\nX-B: c")])
            )
        }
        let badName = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPRequest(url: "http://127.0.0.1:1/", headers: [HTTPHeader(name: "X A", value: "b")]))
        }
        let badMethod = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPRequest(method: "GET /x", url: "http://127.0.0.1:1/"))
        }

        #expect(badValue?.code == .invalidRequest)
        #expect(badValue?.message.contains("secret") == false)
        #expect(badName?.code == .invalidRequest)
        #expect(badMethod?.code == .invalidRequest)
    }

    @Test func invalidConfigurationIsRejected() {
        #expect(throws: HTTPClientError.self) {
            try HTTPClient(configuration: .init(maxConnectionsPerHost: 0))
        }
        #expect(throws: HTTPClientError.self) {
            try HTTPClient(configuration: .init(maxConnectionsPerHost: 8, maxTotalConnections: 4))
        }
    }
}
