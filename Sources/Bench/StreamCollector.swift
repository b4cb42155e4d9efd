import Synchronization

/// What a streamed load saw: its streams' first tokens, gaps and completions, and what failed.
struct StreamOutcome: Sendable {
    var elapsed: Duration
    /// Time to first token of each measured stream, in milliseconds.
    var firstToken: Samples
    /// Gaps between consecutive content deltas, over every measured stream.
    var gaps: Samples
    /// Time to the end marker of each measured stream.
    var complete: Samples
    var contentDeltas: Int
    /// The shortest and longest answer, in characters.
    var characters: ClosedRange<Int>?
    /// A few measured streams that the gateway named a job for (without their gaps), for
    /// checking how the pool answered and where their time went.
    var kept: [StreamTrace]
    var failures: Int
    var firstFailure: String?

    var streams: Int { firstToken.count }
    var jobIDs: [String] { kept.compactMap(\.jobID) }
    var deltasPerStream: Double { streams == 0 ? 0 : Double(contentDeltas) / Double(streams) }
}

/// Collects the traces of a streamed load from many tasks.
final class StreamCollector: Sendable {
    private struct State {
        var firstToken = Samples()
        var gaps = Samples()
        var complete = Samples()
        var contentDeltas = 0
        var characters: ClosedRange<Int>?
        var kept: [StreamTrace] = []
        var failures = 0
        var firstFailure: String?
        var done = 0
    }

    private let state = Mutex(State())
    private let issued = Atomic<Int>(0)
    /// Streams kept: enough to see which tier and mode answered and a median of where the time went.
    static let keptStreams = 50

    /// The next stream's index, for closed-loop runs.
    func take() -> Int { issued.add(1, ordering: .relaxed).oldValue }

    /// Records a measured stream's figures.
    func record(_ trace: StreamTrace) {
        state.withLock { state in
            state.done += 1
            guard let firstToken = trace.firstToken, let complete = trace.complete else {
                state.failures += 1
                if state.firstFailure == nil { state.firstFailure = "a stream ended without any content" }
                return
            }
            state.firstToken.append(firstToken)
            state.complete.append(complete)
            for gap in trace.gaps { state.gaps.append(gap) }
            state.contentDeltas += trace.contentDeltas
            let length = trace.contentCharacters
            state.characters = state.characters.map { min($0.lowerBound, length)...max($0.upperBound, length) } ?? length...length
            if trace.jobID != nil, state.kept.count < Self.keptStreams {
                var kept = trace
                kept.gaps = []
                state.kept.append(kept)
            }
        }
    }

    /// Counts a stream that is not measured (a warm-up one) towards progress.
    func skip() { state.withLock { $0.done += 1 } }

    func fail(_ reason: String) {
        state.withLock { state in
            state.done += 1
            state.failures += 1
            if state.firstFailure == nil { state.firstFailure = reason }
        }
    }

    var done: Int { state.withLock { $0.done } }

    func outcome(elapsed: Duration) -> StreamOutcome {
        state.withLock { state in
            StreamOutcome(
                elapsed: elapsed, firstToken: state.firstToken, gaps: state.gaps, complete: state.complete, contentDeltas: state.contentDeltas,
                characters: state.characters, kept: state.kept, failures: state.failures, firstFailure: state.firstFailure)
        }
    }
}

/// Streams held open at once: which had content and have not ended yet.
final class OpenStreams: Sendable {
    private struct State {
        var open: Set<Int> = []
        var firstToken = Samples()
        var ended = 0
        var failures = 0
        var firstFailure: String?
    }

    private let state = Mutex(State())

    /// Stream `index` had its first content, `milliseconds` after it was sent.
    func opened(_ index: Int, after milliseconds: Double) {
        state.withLock { state in
            state.open.insert(index)
            state.firstToken.append(milliseconds)
        }
    }

    /// Stream `index` ended, with `failure` when it failed.
    func ended(_ index: Int, failure: String?) {
        state.withLock { state in
            state.ended += 1
            state.open.remove(index)
            if let failure {
                state.failures += 1
                if state.firstFailure == nil { state.firstFailure = failure }
            }
        }
    }

    var open: Int { state.withLock { $0.open.count } }
    /// Time to first token of every stream that had content.
    var firstToken: Samples { state.withLock { $0.firstToken } }
    var ended: Int { state.withLock { $0.ended } }
    var failures: (count: Int, first: String?) { state.withLock { ($0.failures, $0.firstFailure) } }
}
