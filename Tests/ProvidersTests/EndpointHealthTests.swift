import CervellaTestSupport
import CurlHTTP
import Foundation
import ProviderSimulator
import Providers
import Settings
import Synchronization
import Testing

/// The per-tier circuit breakers, over real HTTP: simulators (whose `#sim` directives
/// make one call fail), closed ports (connection refused) and the recording server (a
/// backup that always answers, whatever directive the primary obeys).
@Suite("Endpoint health and circuit breaker")
struct EndpointHealthTests {
    static let kinds = TierSettings.ProviderKind.allCases
    static let chat = SimulatorStats.chatCompletions

    /// Short enough to wait out, long enough that the calls a test makes "within the
    /// cool-down" still are on a loaded machine.
    static let coolDown: Duration = .seconds(1)

    static func provider(_ kind: TierSettings.ProviderKind, _ endpoints: [String], http: HTTPClient, health: EndpointHealth? = nil)
        -> any ChatProvider
    {
        ProviderFactory.make(Fixture.settings(kind, endpoints: endpoints), http: http, health: health)
    }

    static func cannedReply(_ kind: TierSettings.ProviderKind) -> RecordingServer.Reply {
        .init(body: kind == .openai ? CannedReply.chatCompletion : CannedReply.message)
    }

    // MARK: Failover and skipping

    @Test("a refused primary fails over to the backup and is marked failing, not yet open", arguments: kinds)
    func refusedPrimaryFailsOver(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { backup, http in
            let dead = "http://127.0.0.1:\(try closedPort())"
            let provider = Self.provider(kind, [dead, backup.baseURL], http: http)
            #expect(provider.health.modelHealth() == .healthy)

            let response = try await provider.complete(Fixture.request("Hello"))
            #expect(!response.text.isEmpty)
            #expect(backup.stats.total == 1)

            let snapshot = provider.health.snapshot()
            #expect(snapshot.map(\.endpoint) == [dead, backup.baseURL])
            #expect(snapshot[0].consecutiveFailures == 1)
            #expect(snapshot[0].state == .closed)
            #expect(snapshot[0].lastError?.contains(dead.dropFirst("http://".count)) == true)
            #expect(snapshot[0].lastFailure != nil)
            #expect(snapshot[1].consecutiveFailures == 0)
            #expect(snapshot[1].lastSuccess != nil)
            #expect(provider.health.modelHealth() == .degraded)
        }
    }

    @Test("after three failures the primary is skipped while the backup serves", arguments: kinds)
    func failingPrimaryIsSkipped(kind: TierSettings.ProviderKind) async throws {
        // The primary answers every call with an injected 5xx (503 vLLM, 529 Anthropic).
        try await withSimulators([.init(port: 0, errorRate: 1), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            // A cool-down the eight calls cannot outlast, however loaded the machine (the whole
            // suite once took over 10 s for them): this test is about skipping, not about when
            // the trial comes.
            let health = EndpointHealth(endpoints: [primary.baseURL, backup.baseURL], coolDown: .seconds(300))
            let provider = Self.provider(kind, [primary.baseURL, backup.baseURL], http: http, health: health)
            for call in 1...8 {
                let response = try await provider.complete(Fixture.request("Hello \(call)"))
                #expect(!response.text.isEmpty)
            }
            #expect(primary.stats.total == 3)
            #expect(backup.stats.total == 8)
            let snapshot = provider.health.snapshot()
            #expect(snapshot[0].state == .open)
            #expect(snapshot[0].consecutiveFailures == 3)
            #expect(snapshot[1].state == .closed)
            // The primary is open but a backup serves: degraded, not down.
            #expect(provider.health.modelHealth() == .degraded)
        }
    }

    @Test("timeouts count toward the breaker but never fail over within the request")
    func timeoutsOpenTheCircuit() async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = Self.provider(.openai, [primary.baseURL, backup.baseURL], http: http)
            for _ in 1...3 {
                // Long enough that even a loaded machine connects before it (the call must reach the primary).
                let error = try #require(await Fixture.failure(provider, Fixture.request("#sim hang\nHello", timeout: .milliseconds(1500))))
                #expect(error.code == .timeout)
            }
            #expect(primary.stats.total == 3)
            #expect(backup.stats.total == 0)
            #expect(provider.health.snapshot()[0].state == .open)

            _ = try await provider.complete(Fixture.request("Hello"))
            #expect(primary.stats.total == 3)
            #expect(backup.stats.total == 1)
        }
    }

    @Test("4xx answers never count as endpoint failures")
    func clientErrorsDoNotCount() async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = Self.provider(.openai, [primary.baseURL, backup.baseURL], http: http)
            for status in [400, 404, 400, 422, 400] {
                _ = await Fixture.failure(provider, Fixture.request("#sim status=\(status)\nHello"))
            }
            let snapshot = provider.health.snapshot()
            #expect(snapshot[0].state == .closed)
            #expect(snapshot[0].consecutiveFailures == 0)
            #expect(snapshot[0].lastError == nil)
            #expect(primary.stats.total == 5)
            #expect(backup.stats.total == 0)
            #expect(provider.health.modelHealth() == .healthy)
        }
    }

    @Test("a 429 pauses its endpoint for Retry-After without counting as a failure")
    func rateLimitPausesTheEndpoint() async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            // Time stands still unless the test moves it: a loaded machine cannot end the pause early.
            let clock = ManualClock()
            let health = EndpointHealth(endpoints: [primary.baseURL, backup.baseURL], clock: { clock.now() })
            let provider = Self.provider(.openai, [primary.baseURL, backup.baseURL], http: http, health: health)
            let limited = await Fixture.failure(provider, Fixture.request("#sim status=429\nHello"))
            #expect(limited?.code == .rateLimited)
            // The simulator's Retry-After is 1 s: meanwhile calls go to the backup, not the primary.
            for _ in 0..<3 { _ = try await provider.complete(Fixture.request("Hello")) }
            #expect(primary.stats.total == 1)
            #expect(backup.stats.total == 3)
            #expect(provider.health.snapshot()[0].consecutiveFailures == 0)
            clock.advance(by: .milliseconds(1100))
            _ = try await provider.complete(Fixture.request("Hello"))
            #expect(primary.stats.total == 2)
        }
    }

    @Test("when every endpoint is paused by a 429 no call is made")
    func everyEndpointPausedFailsFast() async throws {
        try await withSimulators([.init(port: 0)]) { simulators, http in
            let only = simulators[0]
            let provider = Self.provider(.openai, [only.baseURL], http: http)
            _ = await Fixture.failure(provider, Fixture.request("#sim status=429\nHello"))
            let paused = await Fixture.failure(provider, Fixture.request("Hello"))
            #expect(paused?.code == .rateLimited)
            #expect(paused?.retryAfter != nil)
            #expect(only.stats.total == 1)
        }
    }

    // MARK: Cool-down and the half-open trial

    @Test("after the cool-down one trial call reaches the primary and closes the circuit", arguments: kinds)
    func trialAfterCoolDownCloses(kind: TierSettings.ProviderKind) async throws {
        let backup = try RecordingServer(reply: Self.cannedReply(kind))
        defer { backup.stop() }
        try await withSimulator { primary, http in
            let health = EndpointHealth(endpoints: [primary.baseURL, backup.baseURL], coolDown: Self.coolDown)
            let provider = Self.provider(kind, [primary.baseURL, backup.baseURL], http: http, health: health)
            for _ in 1...3 { _ = try await provider.complete(Fixture.request("#sim status=503\nHello")) }
            #expect(primary.stats.total == 3)
            #expect(backup.requests.count == 3)
            #expect(health.snapshot()[0].state == .open)

            // Within the cool-down a call the primary would answer still goes to the backup.
            _ = try await provider.complete(Fixture.request("Hello"))
            #expect(primary.stats.total == 3)
            #expect(backup.requests.count == 4)

            try await Task.sleep(for: Self.coolDown + .milliseconds(100))
            #expect(health.snapshot()[0].state == .halfOpen)
            let response = try await provider.complete(Fixture.request("Hello"))
            #expect(response.text != "Canned answer.")
            #expect(primary.stats.total == 4)
            #expect(backup.requests.count == 4)
            #expect(health.snapshot()[0].state == .closed)
            #expect(health.snapshot()[0].consecutiveFailures == 0)

            // Closed again: the next call goes to the primary without waiting.
            _ = try await provider.complete(Fixture.request("Hello again"))
            #expect(primary.stats.total == 5)
            #expect(backup.requests.count == 4)
        }
    }

    @Test("a failed trial opens the circuit again for a whole cool-down")
    func failedTrialReopens() async throws {
        let backup = try RecordingServer(reply: Self.cannedReply(.openai))
        defer { backup.stop() }
        try await withSimulator { primary, http in
            // A longer cool-down than the other tests': the checks after the failed trial must come
            // within it, and a loaded machine can stall for over a second.
            let coolDown: Duration = .seconds(4)
            let health = EndpointHealth(endpoints: [primary.baseURL, backup.baseURL], coolDown: coolDown)
            let provider = Self.provider(.openai, [primary.baseURL, backup.baseURL], http: http, health: health)
            for _ in 1...3 { _ = try await provider.complete(Fixture.request("#sim status=503\nHello")) }
            try await Task.sleep(for: coolDown + .milliseconds(100))

            _ = try await provider.complete(Fixture.request("#sim status=502\nHello"))
            #expect(primary.stats.total == 4)
            #expect(health.snapshot()[0].state == .open)
            #expect(health.snapshot()[0].consecutiveFailures == 4)

            _ = try await provider.complete(Fixture.request("Hello"))
            #expect(primary.stats.total == 4)
            #expect(backup.requests.count == 5)
        }
    }

    @Test("while the trial call is in flight, other calls keep skipping the primary")
    func oneTrialAtATime() async throws {
        let backup = try RecordingServer(reply: Self.cannedReply(.openai))
        defer { backup.stop() }
        try await withSimulator { primary, http in
            let health = EndpointHealth(endpoints: [primary.baseURL, backup.baseURL], coolDown: Self.coolDown)
            let provider = Self.provider(.openai, [primary.baseURL, backup.baseURL], http: http, health: health)
            for _ in 1...3 { _ = try await provider.complete(Fixture.request("#sim status=503\nHello")) }
            try await Task.sleep(for: Self.coolDown + .milliseconds(100))

            let trial = Task { try await provider.complete(Fixture.request("#sim latency_ms=800\nHello")) }
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(5)
            while primary.stats.total < 4 && clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(primary.stats.total == 4)

            let meanwhile = try await provider.complete(Fixture.request("Hello"))
            #expect(meanwhile.text == "Canned answer.")
            #expect(primary.stats.total == 4)
            #expect(backup.requests.count == 4)

            let answer = try await trial.value
            #expect(answer.text != "Canned answer.")
            #expect(health.snapshot()[0].state == .closed)
        }
    }

    // MARK: Every circuit open

    @Test("when every circuit is open the endpoints are still tried, in order", arguments: kinds)
    func allOpenStillTried(kind: TierSettings.ProviderKind) async throws {
        try await withSimulators([.init(port: 0), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let provider = Self.provider(kind, [primary.baseURL, backup.baseURL], http: http)
            for _ in 1...3 { _ = await Fixture.failure(provider, Fixture.request("#sim status=503\nHello")) }
            #expect(provider.health.snapshot().map(\.state) == [CircuitState.open, .open])
            #expect(provider.health.modelHealth() == .down)

            // Within the (default, ten-second) cool-down: both are tried, primary first.
            let error = try #require(await Fixture.failure(provider, Fixture.request("#sim status=503\nHello")))
            #expect(error.code == .http5xx)
            #expect(error.message.contains("127.0.0.1:\(backup.port)"))
            #expect(primary.stats.total == 4)
            #expect(backup.stats.total == 4)

            // The primary is back: it answers, its circuit closes, the backup is left alone.
            let response = try await provider.complete(Fixture.request("Hello"))
            #expect(!response.text.isEmpty)
            #expect(primary.stats.total == 5)
            #expect(backup.stats.total == 4)
            #expect(provider.health.snapshot().map(\.state) == [CircuitState.closed, .open])
            #expect(provider.health.modelHealth() == .degraded)
        }
    }

    // MARK: Model health

    @Test("model health goes healthy, degraded, down, and healthy again after a successful trial")
    func modelHealthTransitions() async throws {
        try await withSimulator { simulator, http in
            let health = EndpointHealth(endpoints: [simulator.baseURL], coolDown: Self.coolDown)
            let provider = Self.provider(.openai, [simulator.baseURL], http: http, health: health)
            _ = try await provider.complete(Fixture.request("Hello"))
            #expect(health.modelHealth() == .healthy)

            _ = await Fixture.failure(provider, Fixture.request("#sim status=500\nHello"))
            #expect(health.modelHealth() == .degraded)
            _ = await Fixture.failure(provider, Fixture.request("#sim status=500\nHello"))
            #expect(health.modelHealth() == .degraded)
            _ = await Fixture.failure(provider, Fixture.request("#sim status=500\nHello"))
            #expect(health.modelHealth() == .down)
            #expect(health.snapshot()[0].state == .open)

            try await Task.sleep(for: Self.coolDown + .milliseconds(100))
            #expect(health.modelHealth() == .down)
            _ = try await provider.complete(Fixture.request("Hello"))
            #expect(health.modelHealth() == .healthy)
            #expect(simulator.stats.total == 5)
        }
    }

    @Test("a single endpoint that keeps failing is reported down, and its calls still go out")
    func singleEndpointDown() async throws {
        let dead = "http://127.0.0.1:\(try closedPort())"
        let http = try HTTPClient()
        defer { http.shutdown() }
        let provider = Self.provider(.openai, [dead], http: http)
        for call in 1...5 {
            let error = try #require(await Fixture.failure(provider, Fixture.request("Hello")))
            #expect(error.code == .connection)
            #expect(provider.health.snapshot()[0].consecutiveFailures == call)
        }
        #expect(provider.health.modelHealth() == .down)
    }

    // MARK: Active probes

    @Test("a probe answered 200 closes an open circuit at once")
    func probeClosesOpenCircuit() async throws {
        try await withSimulator { simulator, http in
            let provider = Self.provider(.openai, [simulator.baseURL + "/v1"], http: http)
            for _ in 1...3 { _ = await Fixture.failure(provider, Fixture.request("#sim status=503\nHello")) }
            #expect(provider.health.snapshot()[0].state == .open)
            #expect(provider.health.modelHealth() == .down)

            await provider.health.probe(http: http, timeout: .seconds(2))
            #expect(simulator.stats.count(SimulatorStats.health) == 1)
            #expect(simulator.stats.total == 3)
            let status = provider.health.snapshot()[0]
            #expect(status.state == .closed)
            #expect(status.consecutiveFailures == 0)
            #expect(provider.health.modelHealth() == .healthy)
        }
    }

    @Test("a probe marks a dead endpoint failing, and opens it after three")
    func probeMarksDeadEndpoint() async throws {
        try await withSimulator { simulator, http in
            let dead = "http://127.0.0.1:\(try closedPort())"
            let provider = Self.provider(.openai, [simulator.baseURL, dead], http: http)
            await provider.health.probe(http: http, timeout: .seconds(10))
            var snapshot = provider.health.snapshot()
            #expect(snapshot[0].state == .closed && snapshot[0].consecutiveFailures == 0)
            #expect(snapshot[1].consecutiveFailures == 1)
            #expect(snapshot[1].lastError?.contains("health check") == true)
            #expect(provider.health.modelHealth() == .degraded)

            await provider.health.probe(http: http, timeout: .seconds(10))
            await provider.health.probe(http: http, timeout: .seconds(10))
            snapshot = provider.health.snapshot()
            #expect(snapshot[1].state == .open)
            #expect(simulator.stats.count(SimulatorStats.health) == 3)
            #expect(simulator.stats.total == 0)
            #expect(provider.health.modelHealth() == .degraded)
        }
    }

    @Test("a probe answered 5xx counts as a failure; a 404 changes nothing")
    func probeStatuses() async throws {
        let failing = try RecordingServer(reply: .init(status: 503, body: #"{"error":"model loading"}"#))
        defer { failing.stop() }
        let missing = try RecordingServer(reply: .init(status: 404, body: #"{"error":"not found"}"#))
        defer { missing.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let health = EndpointHealth(endpoints: [failing.baseURL + "/v1/", missing.baseURL])
        await health.probe(http: http, timeout: .seconds(2))

        #expect(failing.requests.map(\.requestLine) == ["GET /health HTTP/1.1"])
        #expect(missing.requests.map(\.path) == ["/health"])
        let snapshot = health.snapshot()
        #expect(snapshot[0].consecutiveFailures == 1)
        #expect(snapshot[0].lastError?.contains("503") == true)
        #expect(snapshot[1].consecutiveFailures == 0)
        #expect(snapshot[1].lastError == nil)
    }

    @Test("the Anthropic kind does not probe: its API has no health route")
    func anthropicDoesNotProbe() async throws {
        try await withSimulator { simulator, http in
            let provider = Self.provider(.anthropic, [simulator.baseURL], http: http)
            #expect(!provider.health.activeProbing)
            await provider.health.probe(http: http, timeout: .seconds(2))
            #expect(simulator.stats.count(SimulatorStats.health) == 0)

            let openAI = Self.provider(.openai, [simulator.baseURL], http: http)
            #expect(openAI.health.activeProbing)
            await openAI.health.probe(http: http, timeout: .seconds(2))
            #expect(simulator.stats.count(SimulatorStats.health) == 1)
        }
    }

    // MARK: Sharing and secrets

    @Test("one health instance is shared by every provider built with it")
    func sharedHealth() async throws {
        try await withSimulators([.init(port: 0, errorRate: 1), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let health = EndpointHealth(endpoints: [primary.baseURL, backup.baseURL])
            let first = Self.provider(.openai, [primary.baseURL, backup.baseURL], http: http, health: health)
            let second = Self.provider(.openai, [primary.baseURL, backup.baseURL], http: http, health: health)
            for _ in 1...2 { _ = try await first.complete(Fixture.request("Hello")) }
            _ = try await second.complete(Fixture.request("Hello"))
            _ = try await second.complete(Fixture.request("Hello"))
            #expect(primary.stats.total == 3)
            #expect(backup.stats.total == 4)
            #expect(first.health === second.health)
        }
    }

    @Test("the snapshot keeps no key: not from the URL, not from an error body that echoes it")
    func snapshotHasNoSecrets() async throws {
        let key = "sk-proj-Secret1234567890"
        let server = try RecordingServer(reply: .init(status: 500, body: #"{"error":{"message":"bad key \#(key) and Bearer \#(key)"}}"#))
        defer { server.stop() }
        let http = try HTTPClient()
        defer { http.shutdown() }
        let endpoint = "http://user:hunter2@127.0.0.1:\(server.port)/v1?api_key=abc123"
        var settings = Fixture.settings(.openai, endpoints: [endpoint])
        settings.apiKey = key
        let provider = OpenAIProvider(settings: settings, http: http)
        let error = try #require(await Fixture.failure(provider, Fixture.request("Hello")))
        #expect(error.code == .http5xx)

        let status = try #require(provider.health.snapshot().first)
        #expect(status.endpoint == "http://127.0.0.1:\(server.port)/v1")
        let lastError = try #require(status.lastError)
        #expect(lastError.contains("500"))
        #expect(!lastError.contains("Secret1234567890"))
        #expect(!status.description.contains("hunter2") && !status.description.contains("abc123"))
    }

    @Test("thresholds are configurable and clamped to sensible values")
    func configurableThresholds() async throws {
        let health = EndpointHealth(
            endpoints: ["http://a", "http://a", "http://b"], failureThreshold: 0, coolDown: .seconds(-1), activeProbing: false)
        #expect(health.failureThreshold == 1)
        #expect(health.coolDown == .zero)
        #expect(health.endpoints == ["http://a", "http://b"])
        #expect(EndpointHealth(endpoints: []).modelHealth() == .down)

        let defaults = EndpointHealth(endpoints: ["http://a"])
        #expect(defaults.failureThreshold == 3)
        #expect(defaults.coolDown == .seconds(10))
        #expect(defaults.activeProbing)
    }

    @Test("a failure threshold of one opens the circuit on the first failure")
    func thresholdOfOne() async throws {
        try await withSimulators([.init(port: 0, errorRate: 1), .init(port: 0)]) { simulators, http in
            let (primary, backup) = (simulators[0], simulators[1])
            let health = EndpointHealth(endpoints: [primary.baseURL, backup.baseURL], failureThreshold: 1)
            let provider = Self.provider(.openai, [primary.baseURL, backup.baseURL], http: http, health: health)
            for _ in 1...3 { _ = try await provider.complete(Fixture.request("Hello")) }
            #expect(primary.stats.total == 1)
            #expect(backup.stats.total == 3)
        }
    }
}

/// A clock that moves only when told to, for breaker and pause timing.
final class ManualClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)

    func now() -> ContinuousClock.Instant { instant.withLock { $0 } }

    func advance(by duration: Duration) {
        instant.withLock { $0 += duration }
    }
}
