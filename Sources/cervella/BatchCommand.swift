import ArgumentParser
import Batch
import Dispatch
import Foundation
import Producer
import RedisClient
import Settings

struct BatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Run a folder of documents or a JSONL of requests through the pool, resumably, with progress and a cost table.",
        discussion: """
            Each item runs as a job group in the bulk lane (interactive chat keeps its speed). Results
            go to --output as JSONL ({"id","source","ok","response"|"error","metadata","cost_usd"}),
            each line flushed as it is known; run the same command again after an interruption and
            the ids already in the output are skipped. Bad inputs are reported and skipped. Exit
            status: 0 when every item was answered, 1 when an item failed or an input was skipped.
            """
    )

    @OptionGroup var options: SettingsOptions

    @Option(help: "A folder of text files (read recursively), or a JSONL file of requests (/api/chat's fields and an optional id).")
    var input: String

    @Option(help: "The JSONL file results are appended to (created if missing).")
    var output: String

    @Option(help: "Folder input: file patterns to take, by name or relative path (repeatable).")
    var glob: [String] = ["*.md", "*.markdown", "*.txt"]

    @Option(help: "Folder input: a prompt template file with {text} and {name} (default: a summary, in Italian and English).")
    var prompt: String?

    @Option(help: "Items in flight at once.")
    var concurrency = 16

    @Option(help: "Write results as they finish (finish) or in input order (input).")
    var order = "finish"

    @Flag(help: "Split documents over --chunk-tokens into parts, summarise each, and merge the summaries (map-reduce).")
    var mapReduce = false

    @Option(help: "Map-reduce: the most tokens of one part (default: the small model's context, routing.context_limit_tokens).")
    var chunkTokens: Int?

    @Option(help: "Seconds each item may take (its group's deadline).")
    var timeout: Double = 600

    func validate() throws {
        guard (1...4_096).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 4096") }
        guard ["finish", "input"].contains(order) else { throw ValidationError("--order must be finish or input") }
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be more than 0 and at most 86400 seconds") }
        if let chunkTokens, !(256...1_000_000).contains(chunkTokens) { throw ValidationError("--chunk-tokens must be 256 to 1000000") }
        guard !glob.isEmpty else { throw ValidationError("--glob needs at least one pattern") }
    }

    func run() async throws {
        JSONLogHandler.bootstrap(level: options.logLevel == "info" ? "warning" : options.logLevel)
        let settings = try options.loadSettings()
        var batchOptions = BatchOptions()
        batchOptions.concurrency = concurrency
        batchOptions.inputOrder = order == "input"
        batchOptions.mapReduce = mapReduce
        batchOptions.chunkTokens = chunkTokens ?? settings.routing.contextLimitTokens
        batchOptions.timeoutSeconds = timeout
        if let prompt {
            guard let text = try? String(contentsOfFile: prompt, encoding: .utf8) else {
                throw CommandFailure("cannot read the prompt file \(prompt)")
            }
            batchOptions.template = PromptTemplate(text)
            guard batchOptions.template.placesText else {
                throw CommandFailure("the prompt file \(prompt) has no {text}: the documents would not be sent")
            }
        }
        let read: (items: [BatchItem], problems: [BatchProblem])
        let out: BatchOutput
        do {
            read = try BatchInput.read(path: input, globs: glob)
            out = try BatchOutput(path: output)
        } catch {
            throw CommandFailure(error.description)
        }
        for problem in read.problems { FileHandle.standardError.write(Data("skipped \(problem)\n".utf8)) }
        if out.unreadable > 0 {
            FileHandle.standardError.write(Data("\(output): \(out.unreadable) lines without an id were kept as they are\n".utf8))
        }
        guard !read.items.isEmpty else {
            throw CommandFailure("nothing to run in \(input)" + (read.problems.isEmpty ? " (no file matches \(glob.joined(separator: " ")))" : ""))
        }

        let connection = RedisConnection(configuration: try RedisConfiguration(url: settings.redis.url), name: "batch")
        let producer = Producer(settings: settings, connection: connection)
        let runner = BatchRunner(producer: producer, settings: settings, options: batchOptions)
        let interrupted = Interruption()
        interrupted.install { await runner.cancelOpenGroups() }
        let started = ContinuousClock.now
        let display = Task { await Self.showProgress(runner, started: started) }
        do {
            try await runner.run(read.items, output: out)
        } catch {
            display.cancel()
            throw CommandFailure("the batch stopped: \(error)")
        }
        display.cancel()
        _ = await display.value
        out.close()
        producer.close()
        connection.close()

        let progress = runner.progress
        let seconds = Self.seconds(started.duration(to: .now))
        FileHandle.standardError.write(Data("\n".utf8))
        print(
            "\(progress.done) done (\(progress.failed) failed) of \(progress.total) items, \(progress.skipped) already in \(output), "
                + "\(read.problems.count) inputs skipped, in \(String(format: "%.1f", seconds)) s")
        print(BatchSummary.table(runner.jobs))
        if progress.failed > 0 || !read.problems.isEmpty { throw ExitCode(1) }
    }

    /// A bar on a terminal (redrawn twice a second), a plain line every 5 s otherwise.
    static func showProgress(_ runner: BatchRunner, started: ContinuousClock.Instant) async {
        let terminal = isatty(STDERR_FILENO) == 1
        while !Task.isCancelled {
            try? await Task.sleep(for: terminal ? .milliseconds(500) : .seconds(5))
            let line = progressLine(runner.progress, elapsed: Self.seconds(started.duration(to: .now)), bar: terminal)
            FileHandle.standardError.write(Data((terminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func progressLine(_ progress: BatchProgress, elapsed: Double, bar: Bool) -> String {
        let work = max(1, progress.total - progress.skipped)
        let rate = Double(progress.done) / max(elapsed, 0.001)
        let eta = rate > 0 ? Double(work - progress.done) / rate : 0
        let share = Double(progress.done) / Double(work)
        let width = 24
        let filled = min(width, Int(share * Double(width)))
        let drawn = bar ? "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] " : ""
        return drawn
            + String(
                format: "%d/%d  %.1f/s  ETA %ds  fallbacks %d  errors %d  cost $%.4f", progress.done, work, rate, Int(eta.rounded()),
                progress.fallbacks, progress.failed, progress.costUSD)
    }
}

/// Ctrl-C or SIGTERM: the groups in flight are cancelled (their queued jobs never reach a
/// model), what finished is already in the output, and the process exits 130; run the same
/// command again to resume.
final class Interruption: Sendable {
    private let sources = LockedSources()

    func install(_ onInterrupt: @escaping @Sendable () async -> Void) {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("\ninterrupted: cancelling the items in flight; run the same command again to resume\n".utf8))
                Task {
                    // A Redis that does not answer must not keep the process from stopping.
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask { await onInterrupt() }
                        group.addTask { try? await Task.sleep(for: .seconds(5)) }
                        await group.next()
                        group.cancelAll()
                    }
                    exit(130)
                }
            }
            source.resume()
            sources.keep(source)
        }
    }
}

/// Keeps the signal sources alive for the process's life.
final class LockedSources: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let lock = NSLock()
    func keep(_ source: any DispatchSourceSignal) { lock.withLock { sources.append(source) } }
}
