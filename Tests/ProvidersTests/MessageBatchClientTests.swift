import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import ProviderSimulator
import Providers
import Synchronization
import Testing

/// The Message Batches client against the simulator's batch endpoints: create, retrieve with
/// `request_counts`, results read line by line and matched by custom id, cancel, expiry.
@Suite(.timeLimit(.minutes(1))) struct MessageBatchClientTests {
    static func configuration(seconds: Double, expiry: Double = 86_400) -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration(port: 0)
        configuration.batchProcessingSeconds = seconds
        configuration.batchExpirySeconds = expiry
        return configuration
    }

    static func entries(_ prompts: [String]) throws -> [(customID: String, params: [UInt8])] {
        try prompts.enumerated().map { index, prompt in
            ("e\(index + 1)", try MessageBatchClient.params(model: "claude-sonnet-4-5", request: Fixture.request(prompt)).body)
        }
    }

    static func results(_ client: MessageBatchClient, _ batch: MessageBatchClient.Batch) async throws -> [String: MessageBatchClient.Result.Outcome] {
        let collected = Mutex<[String: MessageBatchClient.Result.Outcome]>([:])
        try await client.results(batch) { result in
            collected.withLock { $0[result.customID] = result.outcome }
            return true
        }
        return collected.withLock { $0 }
    }

    @Test func aBatchEndsAndItsResultsAreMatchedByCustomID() async throws {
        try await withSimulators([Self.configuration(seconds: 0.5)]) { simulators, http in
            let client = MessageBatchClient(settings: Fixture.settings(.anthropic, endpoints: [simulators[0].baseURL]), http: http)
            let prompts = (1...20).map { "Summarize report \($0)." } + ["Summarize the bad one.\n#sim anthropic batch=errored"]
            let created = try await client.create(try Self.entries(prompts))
            #expect(created.id.hasPrefix("msgbatch_"))
            #expect(created.processingStatus == "in_progress" && created.processing == 21 && created.resultsURL == nil)
            var batch = created
            let ended = await eventually(timeout: .seconds(10)) {
                batch = (try? await client.retrieve(created.id)) ?? batch
                return batch.ended
            }
            #expect(ended)
            #expect(batch.succeeded == 20 && batch.errored == 1 && batch.processing == 0 && batch.resultsURL != nil)
            let results = try await Self.results(client, batch)
            #expect(results.count == 21)
            guard case .succeeded(let message)? = results["e3"] else {
                Issue.record("e3 did not succeed")
                return
            }
            let response = MessageBatchClient.response(
                message: message, model: "claude-sonnet-4-5", forcedAnswer: false, request: Fixture.request("x"))
            #expect(response.map { !$0.text.isEmpty && $0.tokensOutput > 0 } == true)
            guard case .errored(let kind)? = results["e21"] else {
                Issue.record("e21 did not end errored")
                return
            }
            #expect(kind == "api_error")
            #expect(simulators[0].stats.count(SimulatorStats.messageBatchEntries) == 21)
            #expect(simulators[0].stats.count(SimulatorStats.messages) == 0, "batch entries are not Messages calls")
        }
    }

    @Test func cancelledAndExpiredEntriesSaySo() async throws {
        try await withSimulators([Self.configuration(seconds: 30), Self.configuration(seconds: 30, expiry: 1)]) { simulators, http in
            let slow = MessageBatchClient(settings: Fixture.settings(.anthropic, endpoints: [simulators[0].baseURL]), http: http)
            let batch = try await slow.create(try Self.entries(["One.", "Two.", "Three.\n#sim batch=expired"]))
            let cancelling = try await slow.cancel(batch.id)
            #expect(cancelling.processingStatus == "canceling")
            let ended = try await slow.retrieve(batch.id)
            #expect(ended.ended && ended.canceled == 3)
            let cancelled = try await Self.results(slow, ended)
            #expect(cancelled.values.allSatisfy { if case .canceled = $0 { true } else { false } })

            let expiring = MessageBatchClient(settings: Fixture.settings(.anthropic, endpoints: [simulators[1].baseURL]), http: http)
            let short = try await expiring.create(try Self.entries(["Four.", "Five."]))
            var seen = short
            #expect(
                await eventually(timeout: .seconds(10)) {
                    seen = (try? await expiring.retrieve(short.id)) ?? seen
                    return seen.ended
                })
            #expect(seen.expired == 2)
        }
    }

    @Test func refusalsAreClearErrors() async throws {
        try await withSimulator { simulator, http in
            let client = MessageBatchClient(settings: Fixture.settings(.anthropic, endpoints: [simulator.baseURL]), http: http)
            await #expect(throws: ProviderError.self) { _ = try await client.create([("not valid!", Array("{}".utf8))]) }
            await #expect(throws: ProviderError.self) { _ = try await client.create([]) }
            do throws(ProviderError) {
                _ = try await client.retrieve("msgbatch_01unknown")
                Issue.record("an unknown batch was retrieved")
            } catch {
                #expect(error.status == 404)
            }
            let keyless = MessageBatchClient(settings: Fixture.settings(.anthropic, endpoints: [simulator.baseURL], apiKey: nil), http: http)
            let one = try Self.entries(["One."])
            do throws(ProviderError) {
                _ = try await keyless.create(one)
                Issue.record("a batch was sent without a key")
            } catch {
                #expect(error.message.contains("CLAUDE_API_KEY"))
            }
            do throws(ProviderError) {
                _ = try await client.retrieve("../../etc")
                Issue.record("a batch id with a path in it was sent")
            } catch {
                #expect(error.code == .badResponse)
            }
        }
    }
}
