import Foundation
import JobProtocol
import Producer
import Settings
import Synchronization

/// How `cervella batch` runs its items.
public struct BatchOptions: Sendable {
    /// Items in flight at once (a map-reduce document counts once, whatever its parts).
    public var concurrency = 16
    /// Write results in input order (held until the ones before them are written) instead of
    /// as they finish.
    public var inputOrder = false
    public var template = PromptTemplate.summary
    /// Split documents over `chunkTokens` into parts summarised on their own, then merged.
    public var mapReduce = false
    public var chunkTokens = 32_000
    public var overlapTokens = 200
    /// Each item's deadline (its group's), from its submission.
    public var timeoutSeconds = 600.0

    public init() {}
}

/// One job's outcome, for the final table.
public struct BatchJobRecord: Sendable, Equatable {
    public var tier: Int
    public var ok: Bool
    public var fallbackReason: String?
    public var latencyMs: Int
    public var costUSD: Double
    /// What the same tokens would have cost on Claude.
    public var claudeCostUSD: Double
}

/// Counts shown while a batch runs.
public struct BatchProgress: Sendable, Equatable {
    public var total = 0
    public var skipped = 0
    public var done = 0
    public var failed = 0
    public var fallbacks = 0
    public var costUSD = 0.0
}

/// Runs items through the pool as job groups, bulk lane, with a bounded window, and writes
/// each result to the output as it is known.
public final class BatchRunner: Sendable {
    let producer: Producer
    let settings: CervellaSettings
    let options: BatchOptions
    private let state = Mutex(State())

    private struct State {
        var progress = BatchProgress()
        var jobs: [BatchJobRecord] = []
        /// Groups submitted and not yet ended: cancelled when the run is interrupted.
        var open: Set<String> = []
    }

    public init(producer: Producer, settings: CervellaSettings, options: BatchOptions) {
        self.producer = producer
        self.settings = settings
        self.options = options
    }

    public var progress: BatchProgress { state.withLock { $0.progress } }
    public var jobs: [BatchJobRecord] { state.withLock { $0.jobs } }

    /// Runs `items`, skipping ids the output already holds; returns when every other item has
    /// a line in the output.
    public func run(_ items: [BatchItem], output: BatchOutput) async throws {
        let pending = items.enumerated().filter { !output.done.contains($0.element.id) }
        state.withLock {
            $0.progress.total = items.count
            $0.progress.skipped = items.count - pending.count
        }
        let ordered = OrderedWriter(
            output: output, first: pending.first?.offset ?? 0, inputOrder: options.inputOrder,
            skipped: Set(items.indices).subtracting(pending.map(\.offset)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            var iterator = pending.makeIterator()
            func next() -> Bool {
                guard let (index, item) = iterator.next() else { return false }
                group.addTask {
                    let line = await self.runItem(item)
                    try ordered.write(line, at: index)
                }
                return true
            }
            for _ in 0..<max(1, options.concurrency) where next() {}
            while try await group.next() != nil {
                _ = next()
            }
        }
    }

    /// Cancels the groups in flight (an interrupted run): their queued jobs are skipped by the
    /// workers, their running calls stopped.
    public func cancelOpenGroups() async {
        let open = state.withLock { $0.open }
        for id in open { _ = try? await producer.cancelGroup(id) }
    }

    // MARK: - One item

    private func runItem(_ item: BatchItem) async -> BatchLine {
        switch item.content {
        case .request(let request):
            let job: Job
            do {
                job = try producer.makeJob(
                    messages: request.messages, tierHint: request.tierHint, forceModel: request.forceModel, enableFallback: request.enableFallback,
                    timeoutSeconds: options.timeoutSeconds, priority: .bulk)
            } catch {
                return finish(item, .failure(id: item.id, code: "invalid_request", message: "\(error)"), parts: nil)
            }
            let results = await runGroup([job])
            return finish(item, results[0], parts: nil)
        case .document(let name, let text):
            let prompt = options.template.render(text: text, name: name)
            guard options.mapReduce, TokenEstimator.estimate(prompt) > options.chunkTokens else {
                return finish(item, await summarise([prompt])[0], parts: nil)
            }
            return await mapReduce(item, name: name, text: text)
        }
    }

    /// Parts summarised on their own, then merged (in rounds while the merged summaries are
    /// still over the part size).
    private func mapReduce(_ item: BatchItem, name: String, text: String) async -> BatchLine {
        // The template's own words count against the part size.
        let room = max(64, options.chunkTokens - TokenEstimator.estimate(options.template.render(text: "", name: name)))
        let parts = Chunker.chunks(text, maxTokens: room, overlapTokens: options.overlapTokens)
        let mapped = await summarise(parts.enumerated().map { options.template.render(text: $1, name: "\(name) (part \($0 + 1) of \(parts.count))") })
        var records = mapped.map(PartRecord.init)
        guard let failed = mapped.first(where: { !$0.ok }) else {
            var summaries = mapped.compactMap(\.response)
            var merged: JobResult?
            while merged == nil {
                let joined = summaries.enumerated().map { "[\($0 + 1)] \($1)" }.joined(separator: "\n\n")
                let mergeRoom = max(64, options.chunkTokens - TokenEstimator.estimate(PromptTemplate.merge.render(text: "", name: name)))
                if TokenEstimator.estimate(joined) <= mergeRoom || summaries.count <= 1 {
                    let result = await summarise([PromptTemplate.merge.render(text: joined, name: name)])[0]
                    records.append(PartRecord(result, step: "reduce"))
                    merged = result
                } else {
                    // Too long to merge at once: merge groups of summaries, then those.
                    let batches = Chunker.chunks(joined, maxTokens: mergeRoom, overlapTokens: 0)
                    let round = await summarise(batches.map { PromptTemplate.merge.render(text: $0, name: name) })
                    records += round.map { PartRecord($0, step: "reduce") }
                    if let bad = round.first(where: { !$0.ok }) { return finish(item, bad, parts: records) }
                    summaries = round.compactMap(\.response)
                }
            }
            return finish(item, merged!, parts: records)
        }
        return finish(item, failed, parts: records)
    }

    /// One job per prompt, as one group; the results in order.
    private func summarise(_ prompts: [String]) async -> [JobResult] {
        var jobs: [Job] = []
        for prompt in prompts {
            do {
                jobs.append(
                    try producer.makeJob(
                        messages: [ChatMessage(role: "user", content: prompt)], timeoutSeconds: options.timeoutSeconds, priority: .bulk))
            } catch {
                return prompts.map { _ in .failure(id: "", code: "invalid_request", message: "\(error)") }
            }
        }
        return await runGroup(jobs)
    }

    /// Submits `jobs` as a group (wait for all) and returns their results in order; a job the
    /// group has no result for is `deadline_exceeded`.
    private func runGroup(_ jobs: [Job]) async -> [JobResult] {
        let group: JobGroup
        do {
            group = try producer.makeGroup(jobs, spec: GroupSpec(wait: .all, onFailure: .continue), timeoutSeconds: options.timeoutSeconds)
            state.withLock { _ = $0.open.insert(group.id) }
            try await producer.submitGroup(group)
        } catch {
            return jobs.map { .failure(id: $0.id, code: "redis_error", message: "cannot submit the group: \(error)") }
        }
        let report: GroupReport?
        var problem: ResultError?
        do {
            report = try await producer.awaitGroup(group)
            problem = report?.error
        } catch {
            report = nil
            problem = ResultError(code: "redis_error", message: "lost the group's result: \(error)")
        }
        state.withLock { _ = $0.open.remove(group.id) }
        let byID = Dictionary((report?.results ?? []).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let results = group.children.map { child in
            byID[child.id] ?? .failure(id: child.id, code: problem?.code ?? "deadline_exceeded", message: problem?.message ?? "no result")
        }
        let claude = settings.tier(.claude)
        state.withLock { state in
            for result in results {
                let metadata = result.metadata
                state.jobs.append(
                    BatchJobRecord(
                        tier: metadata?.tier ?? 0, ok: result.ok,
                        fallbackReason: metadata?.fallback == true ? metadata?.fallbackReason ?? "unknown" : nil,
                        latencyMs: metadata?.latencyMs ?? 0, costUSD: metadata?.costUSD ?? 0,
                        claudeCostUSD: metadata.map { claude.costUSD(inputTokens: $0.tokensInput, outputTokens: $0.tokensOutput) } ?? 0))
                state.progress.costUSD += metadata?.costUSD ?? 0
                if metadata?.fallback == true { state.progress.fallbacks += 1 }
            }
        }
        return results
    }

    private func finish(_ item: BatchItem, _ result: JobResult, parts: [PartRecord]?) -> BatchLine {
        let cost = parts.map { $0.reduce(0) { $0 + $1.costUSD } } ?? result.metadata?.costUSD ?? 0
        state.withLock { state in
            state.progress.done += 1
            if !result.ok { state.progress.failed += 1 }
        }
        return BatchLine(id: item.id, source: item.source, result: result, parts: parts, costUSD: cost)
    }
}

/// A map-reduce document's part or merge step, as its output line records it.
public struct PartRecord: Sendable, Equatable, Encodable {
    public var step: String
    public var ok: Bool
    public var tier: Int?
    public var model: String?
    public var fallback: Bool
    public var fallbackReason: String?
    public var costUSD: Double
    public var error: String?

    init(_ result: JobResult) { self.init(result, step: "map") }

    init(_ result: JobResult, step: String) {
        self.step = step
        ok = result.ok
        tier = result.metadata?.tier
        model = result.metadata?.modelUsed
        fallback = result.metadata?.fallback ?? false
        fallbackReason = result.metadata?.fallbackReason
        costUSD = result.metadata?.costUSD ?? 0
        error = result.error?.code
    }

    enum CodingKeys: String, CodingKey {
        case step, ok, tier, model, fallback, fallbackReason = "fallback_reason", costUSD = "cost_usd", error
    }
}

/// One output line: `{"id","source","ok","response"|"error","metadata","parts"?,"cost_usd"}`.
public struct BatchLine: Sendable {
    public var id: String
    public var source: String
    public var result: JobResult
    public var parts: [PartRecord]?
    public var costUSD: Double

    public func json() throws -> Data {
        struct Line: Encodable {
            var id: String
            var source: String
            var ok: Bool
            var response: String?
            var error: ResultError?
            var metadata: ResultMetadata?
            var parts: [PartRecord]?
            var costUSD: Double
            enum CodingKeys: String, CodingKey { case id, source, ok, response, error, metadata, parts, costUSD = "cost_usd" }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(
            Line(
                id: id, source: source, ok: result.ok, response: result.response, error: result.error, metadata: result.metadata, parts: parts,
                costUSD: costUSD))
    }
}

/// Writes lines as they finish, or in input order (holding later ones back).
final class OrderedWriter: Sendable {
    private struct State {
        var next: Int
        var held: [Int: BatchLine] = [:]
        var skipped: Set<Int>
    }

    private let output: BatchOutput
    private let inputOrder: Bool
    private let state: Mutex<State>

    init(output: BatchOutput, first: Int, inputOrder: Bool, skipped: Set<Int>) {
        self.output = output
        self.inputOrder = inputOrder
        self.state = Mutex(State(next: 0, skipped: skipped))
    }

    func write(_ line: BatchLine, at index: Int) throws {
        guard inputOrder else { return try output.append(line) }
        // Written under the lock, so that two items finishing at once keep their order.
        try state.withLock { (state: inout State) throws in
            state.held[index] = line
            while true {
                if state.skipped.remove(state.next) != nil {
                    state.next += 1
                } else if let line = state.held.removeValue(forKey: state.next) {
                    try output.append(line)
                    state.next += 1
                } else {
                    return
                }
            }
        }
    }
}
