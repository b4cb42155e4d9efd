import CervellaTestSupport
import CurlHTTP
import Foundation
import JobProtocol
import ProviderSimulator
import Providers
import Settings
import Synchronization
import Testing

/// Both wire formats streamed from the simulator: the deltas make up the answer `complete`
/// gives, a stream cut or broken mid-answer is an error, and a caller that stops a stream
/// aborts the call at the provider.
@Suite(.timeLimit(.minutes(3))) struct ProviderStreamTests {
    /// Collects what a sink received.
    final class Received: Sendable {
        let deltas = Mutex<[StreamDelta]>([])
        var text: String { deltas.withLock { $0.map(\.text).joined() } }
        var logprobs: [Double] { deltas.withLock { $0.flatMap(\.logprobs) } }
        var count: Int { deltas.withLock { $0.count } }
        func sink(stopAfter: Int = .max) -> StreamSink {
            { delta in
                let count = self.deltas.withLock {
                    $0.append(delta)
                    return $0.count
                }
                return count >= stopAfter ? .stop : .proceed
            }
        }
    }

    /// Generous: the whole suite runs in parallel on two cores, and a paced stream needs many
    /// timely wake-ups. No test here measures time; the bench does (docs/BENCHMARKS.md).
    static let timeout: Duration = .seconds(150)

    static func provider(_ kind: TierSettings.ProviderKind, _ simulator: RunningSimulator, _ http: HTTPClient) -> any ChatProvider {
        let settings = Fixture.settings(kind, endpoints: [simulator.baseURL])
        return kind == .openai ? OpenAIProvider(settings: settings, http: http) : AnthropicProvider(settings: settings, http: http)
    }

    @Test(arguments: [TierSettings.ProviderKind.openai, .anthropic])
    func theDeltasMakeUpTheWholeAnswer(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = Self.provider(kind, simulator, http)
            // Paced, so that the pieces are not all in one network read (which would come as one delta).
            let request = Fixture.request(
                "Explain what a message queue is, in a few sentences.\n#sim token_ms=5", wantLogprobs: kind == .openai, timeout: Self.timeout)
            let whole = try await provider.complete(request)
            let received = Received()
            let streamed = try await provider.stream(request, to: received.sink())
            #expect(received.count > 3, "the answer came in pieces")
            #expect(received.text == whole.text)
            #expect(streamed.text == whole.text)
            #expect(streamed.tokensOutput == whole.tokensOutput)
            #expect(streamed.tokensInput == whole.tokensInput)
            #expect(streamed.finishReason == whole.finishReason)
            #expect(streamed.tokenLogprobs == whole.tokenLogprobs)
            #expect(received.logprobs == (whole.tokenLogprobs ?? []))
            #expect(!streamed.stoppedEarly)
        }
    }

    @Test(arguments: [TierSettings.ProviderKind.openai, .anthropic])
    func aStreamedToolCallIsAssembledAsTheWholeOne(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = Self.provider(kind, simulator, http)
            var request = Fixture.request("Weather in Rome?")
            let tool =
                #"{"type":"function","function":{"name":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}"#
            request.tools = [try #require(JSONValue.read(Array(tool.utf8)))]
            let whole = try await provider.complete(request)
            let received = Received()
            let streamed = try await provider.stream(request, to: received.sink())
            let calls = try #require(streamed.toolCalls)
            #expect(calls.map(\.name) == (whole.toolCalls ?? []).map(\.name))
            #expect(calls.map(\.arguments) == (whole.toolCalls ?? []).map(\.arguments))
            #expect(streamed.finishReason == "tool_calls")
            let pieces = received.deltas.withLock { $0.flatMap(\.toolCalls) }
            #expect(pieces.first?.name == "weather")
            #expect(pieces.first?.id == calls.first?.id)
            #expect(pieces.map(\.arguments).joined() == calls.first?.arguments)
        }
    }

    @Test(arguments: [TierSettings.ProviderKind.openai, .anthropic])
    func aStreamCutBeforeItsEndMarkerIsAnError(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = Self.provider(kind, simulator, http)
            let received = Received()
            do throws(ProviderError) {
                _ = try await provider.stream(Fixture.request("Tell me about rivers.\n#sim cut"), to: received.sink())
                Issue.record("a cut stream was taken for a whole answer")
            } catch {
                #expect(error.code == .badResponse)
                #expect(error.message.contains("ended before its end marker"), "\(error)")
            }
            #expect(!received.text.isEmpty, "the first half came before the cut")
        }
    }

    @Test(arguments: [TierSettings.ProviderKind.openai, .anthropic])
    func anErrorEventMidStreamIsAnError(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = Self.provider(kind, simulator, http)
            let received = Received()
            do throws(ProviderError) {
                _ = try await provider.stream(Fixture.request("Tell me about rivers.\n#sim midstream_error"), to: received.sink())
                Issue.record("a stream that reported an error was taken for a whole answer")
            } catch {
                #expect(error.code == .http5xx, "\(error)")
                #expect(error.status == (kind == .openai ? 500 : 529))
            }
            #expect(!received.text.isEmpty)
        }
    }

    @Test(arguments: [TierSettings.ProviderKind.openai, .anthropic])
    func stoppingAStreamAbortsTheCallAtTheProvider(kind: TierSettings.ProviderKind) async throws {
        try await withSimulator { simulator, http in
            let provider = Self.provider(kind, simulator, http)
            let received = Received()
            // 60 ms between tokens: the whole answer would take seconds.
            let partial = try await provider.stream(
                Fixture.request("Tell me about rivers and lakes.\n#sim token_ms=60", timeout: Self.timeout), to: received.sink(stopAfter: 3))
            #expect(partial.stoppedEarly)
            #expect(partial.tokensOutput >= 2)
            #expect(await eventually { simulator.stats.cancelledStreams == 1 }, "the simulator saw the call cancelled")
        }
    }

    @Test func anUnreachablePrimaryFailsOverBeforeTheStreamBegins() async throws {
        try await withSimulator { simulator, http in
            let settings = Fixture.settings(.openai, endpoints: ["http://127.0.0.1:\(try closedPort())", simulator.baseURL])
            let provider = OpenAIProvider(settings: settings, http: http)
            let received = Received()
            let answer = try await provider.stream(Fixture.request("Hello there."), to: received.sink())
            #expect(!answer.text.isEmpty)
            #expect(received.text == answer.text)
            #expect(simulator.stats.startedStreams == 1)
        }
    }
}
