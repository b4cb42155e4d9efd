import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import ProviderSimulator

/// Stats, timing, configured failures, and the simulator running as a real service.
@Suite("ProviderSimulator service")
struct SimulatorServiceTests {
    @Test("stats count provider endpoints, serve them as JSON and reset")
    func stats() async throws {
        let simulator = Sim.make()
        try await Sim.withRouter(simulator) { client in
            #expect(simulator.stats.total == 0)
            _ = try await Sim.chatContent(client, "Hello")
            _ = try await Sim.chat(client, ByteBuffer(string: "{}"))
            _ = try await Sim.messages(client, Sim.messagesBody("Hello"), headers: [:])
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok && health.body.readableBytes == 0)
            #expect(simulator.stats.count(SimulatorStats.chatCompletions) == 2)
            #expect(simulator.stats.count("/v1/messages") == 1)
            #expect(simulator.stats.count(SimulatorStats.health) == 1)
            #expect(simulator.stats.count(SimulatorStats.models) == 0)
            #expect(simulator.stats.total == 3)
            let served = try Sim.json(try await client.execute(uri: "/sim/stats", method: .get))
            #expect(served["total"] as? Int == 3)
            let endpoints = try #require(served["endpoints"] as? [String: Int])
            #expect(endpoints == ["/v1/chat/completions": 2, "/v1/messages": 1, "/health": 1, "/v1/models": 0])
            let reset = try Sim.json(try await client.execute(uri: "/sim/reset", method: .post))
            #expect(reset["total"] as? Int == 0)
            #expect(simulator.stats.total == 0 && simulator.stats.count(SimulatorStats.health) == 0)
        }
    }

    @Test("latency comes from the directive or from the configuration")
    func latency() async throws {
        let clock = ContinuousClock()
        try await Sim.withRouter { client in
            let start = clock.now
            _ = try await Sim.chatContent(client, "#sim latency_ms=300\nHello")
            #expect(clock.now - start >= .milliseconds(300))
        }
        try await Sim.withRouter(Sim.make(.init(port: 0, defaultLatencyMs: 1500, jitterMs: 50))) { client in
            let start = clock.now
            _ = try await Sim.messages(client, Sim.messagesBody("Hello"))
            #expect(clock.now - start >= .milliseconds(1500))
            // The directive replaces the configured 1.5 s (the bound leaves room for a loaded CI machine).
            let fast = clock.now
            _ = try await Sim.chatContent(client, "#sim latency_ms=0\nHello")
            #expect(clock.now - fast < .milliseconds(1200))
        }
    }

    @Test("errorRate 1 fails every call with 503 / 529, unless a directive decides the outcome")
    func errorRateAlways() async throws {
        try await Sim.withRouter(Sim.make(.init(port: 0, errorRate: 1))) { client in
            let openAI = try await Sim.chat(client, Sim.chatBody("Hello"))
            #expect(openAI.status == .serviceUnavailable)
            #expect(try Sim.json(openAI)["type"] as? String == "ServiceUnavailableError")
            let anthropic = try await Sim.messages(client, Sim.messagesBody("Hello"))
            #expect(anthropic.status.code == 529)
            #expect(try AnthropicRouteTests.errorType(anthropic) == "overloaded_error")
            #expect(try await Sim.chat(client, Sim.chatBody("#sim empty\nHello")).status == .ok)
            #expect(try await Sim.chat(client, Sim.chatBody("#sim status=429\nHello")).status == .tooManyRequests)
        }
    }

    @Test("a partial error rate is reproducible for a given seed")
    func errorRateSeeded() async throws {
        @Sendable func statuses(seed: UInt64) async throws -> [Int] {
            try await Sim.withRouter(Sim.make(.init(port: 0, errorRate: 0.5, seed: seed))) { client in
                var codes: [Int] = []
                for index in 0..<40 {
                    codes.append(try await Sim.chat(client, Sim.chatBody("Question \(index)")).status.code)
                }
                return codes
            }
        }
        let first = try await statuses(seed: 7)
        #expect(first == (try await statuses(seed: 7)))
        #expect(first.contains(200) && first.contains(503))
        #expect(Set(first) == [200, 503])
        #expect(first != (try await statuses(seed: 8)))
    }

    @Test("a hanging request does not block others and ends when cancelled")
    func hangIsNonBlocking() async throws {
        try await Sim.withRouter { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let finished = Mutex(false)
                group.addTask {
                    _ = try? await Sim.chat(client, Sim.chatBody("#sim hang\nHello"))
                    finished.withLock { $0 = true }
                }
                try await Task.sleep(for: .milliseconds(100))
                for _ in 0..<3 {
                    #expect(try await Sim.chatContent(client, "Other request").count >= 120)
                }
                try await Task.sleep(for: .milliseconds(200))
                #expect(finished.withLock { $0 } == false)
                group.cancelAll()
            }
        }
    }

    @Test("run() binds a free port, reports it, serves HTTP, and shuts down despite a hang")
    func liveService() async throws {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "sim-live-test")
        logger.logLevel = .critical
        let simulator = ProviderSimulator(configuration: .init(port: 0), logger: logger) { port in
            continuation.yield(port)
        }
        let group = ServiceGroup(configuration: .init(services: [simulator], logger: logger))
        let running = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        #expect(port > 0 && port != 8090)

        let hangClient = TestClient(host: "127.0.0.1", port: port)
        hangClient.connect()
        let hanging = Task {
            try await hangClient.execute(
                .init("/v1/chat/completions", method: .post, headers: [.contentType: "application/json"], body: Sim.chatBody("#sim hang\nHi")))
        }
        try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
            let health = try await client.get("/health")
            #expect(health.status == .ok)
            let reply = try await client.post("/v1/chat/completions", headers: [.contentType: "application/json"], body: Sim.chatBody("Hello there"))
            #expect(reply.status == .ok)
            #expect(try JSONSerialization.jsonObject(with: Data(reply.body!.readableBytesView)) is [String: Any])
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(simulator.stats.count(SimulatorStats.chatCompletions) == 2)

        // Graceful shutdown must cancel the hanging handler instead of waiting an hour for it.
        let clock = ContinuousClock()
        let start = clock.now
        await group.triggerGracefulShutdown()
        try await running.value
        // Alone this takes well under a second; in a full run on 2 loaded cores it has taken
        // 10–17 s (cause not found yet). The promise tested is
        // that the hour-long hang is not waited for.
        #expect(clock.now - start < .seconds(30))
        let hangResult = await hanging.result
        if case .success(let response) = hangResult {
            #expect(response.status != .ok, "a hanging request must never get a 200")
        }
        try? await hangClient.shutdown()
    }
}
