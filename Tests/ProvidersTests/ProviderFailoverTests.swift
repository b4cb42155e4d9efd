import CervellaTestSupport
import CurlHTTP
import ProviderSimulator
import Providers
import Settings
import Testing

/// A tier's endpoints are tried in order: an unreachable host or a 5xx moves on to the
/// backup; any other failure is the answer. Each simulator's stats show which was called.
@Suite("Provider failover")
struct ProviderFailoverTests {
    static let kinds = TierSettings.ProviderKind.allCases

    @Test("a dead primary fails over to the backup", arguments: kinds)
    func deadPrimary(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { backup, http in
            let dead = "http://127.0.0.1:\(try closedPort())"
            let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: [dead, backup.baseURL]), http: http)
            let response = try await provider.complete(Fixture.request("Hello"))
            #expect(!response.text.isEmpty)
            #expect(backup.stats.total == 1)
        }
    }

    @Test("a 5xx on the primary fails over to the backup", arguments: kinds)
    func serverErrorOnPrimary(kind: TierSettings.ProviderKind) async throws {
        // The primary fails every call by configuration (503 for vLLM, 529 for Anthropic);
        // the backup, seeing the same prompt, answers.
        try await withSimulators([.init(port: 0, errorRate: 1), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: [primary.baseURL, backup.baseURL]), http: http)
            let response = try await provider.complete(Fixture.request("Hello"))
            #expect(!response.text.isEmpty)
            #expect(primary.stats.total == 1)
            #expect(backup.stats.total == 1)
        }
    }

    @Test("a 4xx on the primary is the answer: the backup is not called", arguments: kinds)
    func clientErrorIsNotRetried(kind: TierSettings.ProviderKind) async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = ProviderFactory.make(Fixture.settings(kind, endpoints: [primary.baseURL, backup.baseURL]), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim status=400\nHello")))
            #expect(error.code == .http4xx)
            #expect(primary.stats.total == 1)
            #expect(backup.stats.total == 0)
        }
    }

    @Test("a 429 on the primary is the answer: the backup is not called")
    func rateLimitIsNotRetried() async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [primary.baseURL, backup.baseURL]), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim status=429\nHello")))
            #expect(error.code == .rateLimited)
            #expect(primary.stats.total == 1)
            #expect(backup.stats.total == 0)
        }
    }

    @Test("a timeout on the primary is the answer: the backup is not called")
    func timeoutIsNotRetried() async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [primary.baseURL, backup.baseURL]), http: http)
            // The hang never ends: a timeout long enough that a loaded machine reaches the primary
            // before it (300 ms once did not, within the whole suite).
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim hang\nHello", timeout: .seconds(5))))
            #expect(error.code == .timeout)
            #expect(primary.stats.total == 1)
            #expect(backup.stats.total == 0)
        }
    }

    @Test("a bad body on the primary is the answer: the backup is not called")
    func badResponseIsNotRetried() async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [primary.baseURL, backup.baseURL]), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim garbage\nHello")))
            #expect(error.code == .badResponse)
            #expect(primary.stats.total == 1)
            #expect(backup.stats.total == 0)
        }
    }

    @Test("when every endpoint fails, the last endpoint's error is reported")
    func allEndpointsFail() async throws {
        try await withSimulator { simulator, http in
            let dead = "http://127.0.0.1:\(try closedPort())"
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [dead, simulator.baseURL]), http: http)
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim status=502\nHello")))
            #expect(error.code == .http5xx)
            #expect(error.status == 502)
            #expect(error.message.contains("127.0.0.1:\(simulator.port)"))
            #expect(simulator.stats.total == 1)
        }
    }

    @Test("a healthy primary is used and the backup is left alone")
    func healthyPrimary() async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [primary.baseURL, backup.baseURL]), http: http)
            for _ in 0..<3 { _ = try await provider.complete(Fixture.request("Hello")) }
            #expect(primary.stats.total == 3)
            #expect(backup.stats.total == 0)
        }
    }

    @Test("cancelling a call ends it promptly and does not move on to the backup")
    func cancellationDoesNotFailOver() async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = OpenAIProvider(settings: Fixture.settings(.openai, endpoints: [primary.baseURL, backup.baseURL]), http: http)
            let call = Task { await Fixture.failure(provider, Fixture.request("#sim hang\nHello", timeout: .seconds(30))) }
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(5)
            while primary.stats.total == 0 && clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(primary.stats.total == 1)

            let cancelled = clock.now
            call.cancel()
            let error = await call.value
            #expect(clock.now - cancelled < .seconds(10), "a missed cancellation waits out the 30 s hang")
            #expect(error != nil)
            #expect(backup.stats.total == 0)
        }
    }
}
