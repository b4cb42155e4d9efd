import CervellaTestSupport
import CurlHTTP
import Foundation
import ProviderSimulator
import Settings
import Testing

@testable import Providers

/// How failed calls map to `ProviderError`, for both wire formats (unscoped `#sim` lines
/// apply to both endpoints).
@Suite("Provider errors")
struct ProviderErrorTests {
    static let kinds = TierSettings.ProviderKind.allCases

    @Test("503 is http_5xx with the status and the server's message", arguments: kinds)
    func serviceUnavailable(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: [simulator.baseURL]), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim status=503\nHello")))
            #expect(error.code == .http5xx)
            #expect(error.status == 503)
            #expect(error.retryAfter == nil)
            #expect(error.fallbackReason == "error_http_5xx")
            // The message names the host and carries the body's message (vLLM's flat
            // shape or Anthropic's nested one).
            #expect(error.message.contains("127.0.0.1:\(simulator.port)"))
            #expect(error.message.contains("Service Unavailable (simulated)"))
            #expect(simulator.stats.total == 1)
        }
    }

    @Test("Anthropic's 529 overloaded is http_5xx", arguments: [TierSettings.ProviderKind.anthropic])
    func overloaded(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: [simulator.baseURL]), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim status=529\nHello")))
            #expect(error.code == .http5xx)
            #expect(error.status == 529)
            #expect(error.message.contains("Overloaded"))
        }
    }

    @Test("400 is http_4xx with the status", arguments: kinds)
    func badRequest(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: [simulator.baseURL]), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim status=400\nHello")))
            #expect(error.code == .http4xx)
            #expect(error.status == 400)
            #expect(error.fallbackReason == "error_http_4xx")
            #expect(error.message.contains("Bad Request (simulated)"))
        }
    }

    @Test("429 is rate_limited, with retryAfter read from the Retry-After header", arguments: kinds)
    func rateLimited(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: [simulator.baseURL]), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim status=429\nHello")))
            #expect(error.code == .rateLimited)
            #expect(error.status == 429)
            #expect(error.retryAfter == .seconds(1))
            #expect(error.fallbackReason == "error_rate_limited")
            #expect(!error.isEndpointFailure)
        }
    }

    @Test("a 200 whose body is not JSON is bad_response", arguments: kinds)
    func garbageBody(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: [simulator.baseURL]), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim garbage\nHello")))
            #expect(error.code == .badResponse)
            #expect(error.status == 200)
            #expect(error.fallbackReason == "error_bad_response")
            #expect(error.message.contains("127.0.0.1:\(simulator.port)"))
        }
    }

    @Test("a hanging server is a timeout within the request's timeout; fallbackReason is timeout_error", arguments: kinds)
    func hangIsTimeout(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: [simulator.baseURL]), http: http)
            let clock = ContinuousClock()
            let start = clock.now
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim hang\nHello", timeout: .milliseconds(300))))
            let elapsed = clock.now - start
            #expect(error.code == .timeout)
            #expect(error.status == nil)
            #expect(error.fallbackReason == "timeout_error")
            #expect(elapsed >= .milliseconds(250), "gave up after \(elapsed)")
            #expect(elapsed < .seconds(10), "gave up after \(elapsed)")
        }
    }

    @Test("a closed port is a connection error", arguments: kinds)
    func closedPortIsConnection(kind: TierSettings.ProviderKind) async throws {
        let http = try HTTPClient()
        defer { http.shutdown() }
        let port = try closedPort()
        let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: ["http://127.0.0.1:\(port)"]), http: http)
        let error = try #require(await Fixture.failure(provider, Fixture.request("Hello")))
        #expect(error.code == .connection)
        #expect(error.status == nil)
        #expect(error.fallbackReason == "error_connection")
        #expect(error.message.contains("127.0.0.1:\(port)"))
    }

    @Test("a tier with no endpoints fails with a connection error without a request")
    func noEndpoints() async throws {
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: []), http: http)
        let error = try #require(await Fixture.failure(provider, Fixture.request("Hello")))
        #expect(error.code == .connection)
        #expect(error.message.contains("no endpoint"))
    }

    @Test("a 200 with a JSON body of the wrong shape is bad_response")
    func wrongShape() async throws {
        let server = try RecordingServer(reply: .init(body: #"{"choices":[]}"#))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL]), http: http)
        let error = try #require(await Fixture.failure(provider, Fixture.request("Hello")))
        #expect(error.code == .badResponse)
        #expect(error.message.contains("no choices"))
    }

    @Test("a fractional Retry-After is kept to the millisecond")
    func fractionalRetryAfter() async throws {
        let server = try RecordingServer(reply: .init(status: 429, headers: [("Retry-After", "2.5")], body: #"{"error":{"message":"slow down"}}"#))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL]), http: http)
        let error = try #require(await Fixture.failure(provider, Fixture.request("Hello")))
        #expect(error.code == .rateLimited)
        #expect(error.retryAfter == .milliseconds(2500))
        #expect(error.message.contains("slow down"))
    }

    @Test("a 429 without Retry-After is rate_limited with no retryAfter")
    func rateLimitedWithoutHeader() async throws {
        let server = try RecordingServer(reply: .init(status: 429, body: #"{"message":"busy"}"#))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL]), http: http)
        let error = try #require(await Fixture.failure(provider, Fixture.request("Hello")))
        #expect(error.code == .rateLimited)
        #expect(error.retryAfter == nil)
        #expect(error.message.contains("busy"))
    }

    /// A Retry-After beyond what fits in a Duration (or `inf`/`nan`) once trapped and killed the
    /// worker; it is now capped at an hour. Run in a child process so that a regression
    /// cannot take the test runner with it.
    @Test("an absurd Retry-After does not crash the process")
    func hugeRetryAfterDoesNotCrash() async {
        await #expect(processExitsWith: .success) {
            let server = try RecordingServer(reply: .init(status: 429, headers: [("Retry-After", "1e20")], body: "{}"))
            defer { server.stop() }
            let http = try HTTPClient()
            defer { http.shutdown() }
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL]), http: http)
            let error = await Fixture.failure(provider, Fixture.request("Hello"))
            guard error?.code == .rateLimited else { exit(1) }
            guard let delay = error?.retryAfter else { return }
            guard delay >= .zero, delay <= .seconds(3600) else { exit(2) }
        }
    }

    /// Control for the test above: the same child-process call with a sane header exits
    /// cleanly, so a crash there is the header's doing, not the harness's.
    @Test("a sane Retry-After in a child process exits cleanly")
    func saneRetryAfterInChildProcess() async {
        await #expect(processExitsWith: .success) {
            let server = try RecordingServer(reply: .init(status: 429, headers: [("Retry-After", "1")], body: "{}"))
            defer { server.stop() }
            let http = try HTTPClient()
            defer { http.shutdown() }
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [server.baseURL]), http: http)
            guard let error = await Fixture.failure(provider, Fixture.request("Hello")), error.retryAfter == .seconds(1) else {
                exit(3)
            }
        }
    }

    @Test("ProviderError's description shows the code and status, never more than the message")
    func description() {
        let error = ProviderError(.http5xx, "host:1 answered 503", status: 503)
        #expect(error.description == "http_5xx (HTTP 503): host:1 answered 503")
        #expect(ProviderError(.timeout, "slow").description == "timeout: slow")
    }

    @Test("only connection failures and 5xx are worth another endpoint")
    func endpointFailureCodes() {
        let retried: [ProviderError.Code] = [.connection, .http5xx]
        let final: [ProviderError.Code] = [.timeout, .rateLimited, .http4xx, .badResponse]
        #expect(retried.allSatisfy { ProviderError($0, "").isEndpointFailure })
        #expect(final.allSatisfy { !ProviderError($0, "").isEndpointFailure })
    }
}

@Suite struct RetryAfterParsingTests {
    @Test(arguments: [("1", 1000), ("2.5", 2500), ("1e20", 3_600_000), ("-5", 0)])
    func secondsAreReadAndCapped(value: String, milliseconds: Int) {
        #expect(ProviderTransportProbe.delay(value) == .milliseconds(milliseconds))
    }

    @Test(arguments: ["inf", "nan", "soon", ""])
    func unreadableValuesGiveNoDelay(value: String) {
        #expect(ProviderTransportProbe.delay(value) == nil)
    }

    @Test func httpDatesAreRead() throws {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let delay = try #require(ProviderTransportProbe.delay(formatter.string(from: Date().addingTimeInterval(30))))
        #expect(delay > .seconds(25) && delay <= .seconds(31))
    }
}

enum ProviderTransportProbe {
    static func delay(_ value: String) -> Duration? { ProviderTransport.retryAfterDelay(value) }
}
