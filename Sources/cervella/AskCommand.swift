import ArgumentParser
import ControlPlane
import Foundation
import JobProtocol
import Logging
import Producer
import RedisClient
import Settings

struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Send one chat job through the pool and print the answer with its metadata."
    )

    @OptionGroup var options: SettingsOptions

    @Argument(help: "The message; '-' reads it from standard input (for long contexts).")
    var message: String

    @Option(help: "System prompt.")
    var system: String?

    @Option(help: "auto, simple, medium or complex.")
    var tierHint: String = "auto"

    @Option(help: "Send to the tier serving this model (for example claude-sonnet-4-5).")
    var forceModel: String?

    @Option(help: "Send to this tier's queue (1, 2 or 3) regardless of other settings.")
    var tier: Int?

    @Option(help: "max_tokens for the answer.")
    var maxTokens: Int?

    @Option(help: "Expected answer format checked by the confidence heuristic: json or markdown.")
    var expectedFormat: String?

    @Flag(help: "Neither read nor fill the exact-match cache.")
    var noCache = false

    @Flag(help: "Return the small model's answer even when its confidence is low.")
    var noFallback = false

    @Option(help: "Seconds to wait for the answer (the job's deadline).")
    var timeout: Double = 60

    @Flag(help: "Print the result JSON instead of a summary.")
    var json = false

    func validate() throws {
        guard ["auto", "simple", "medium", "complex"].contains(tierHint) else {
            throw ValidationError("--tier-hint must be auto, simple, medium or complex")
        }
        if let tier, Tier(tier) == nil { throw ValidationError("--tier must be 1, 2 or 3") }
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be more than 0 and at most 86400 seconds") }
        if let maxTokens, !JobLimits.maxTokens.contains(maxTokens) {
            throw ValidationError("--max-tokens must be \(JobLimits.maxTokens.lowerBound) to \(JobLimits.maxTokens.upperBound)")
        }
    }

    func run() async throws {
        JSONLogHandler.bootstrap(level: options.logLevel == "info" ? "warning" : options.logLevel)
        let settings: CervellaSettings
        settings = try options.loadSettings()

        var text = message
        if message == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("the message is empty")
        }
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: text))

        let connection = RedisConnection(configuration: try RedisConfiguration(url: settings.redis.url), name: "ask")
        defer { connection.close() }
        // One read of the live switches is enough for a single request.
        let live: LiveFlags
        do {
            let hash = try await LiveConfigStore(connection: connection, keys: KeySpace(prefix: settings.redis.keyPrefix)).read()
            live = LiveFlags(settings: settings).applying(hash).flags
        } catch let error as RedisError {
            throw CommandFailure("cannot reach Redis at \(connection.configuration.redactedDescription): \(error.message)")
        }
        let producer = Producer(settings: settings, connection: connection, flags: { live })
        defer { producer.close() }
        var route: Route?
        if let tier, let chosen = Tier(tier) { route = Route(tier: tier, model: settings.tier(chosen).model, reason: "cli_tier_option") }
        let job = try producer.makeJob(
            messages: messages, params: GenerationParameters(maxTokens: maxTokens, expectedFormat: expectedFormat),
            tierHint: tierHint, forceModel: forceModel, enableFallback: !noFallback, cache: !noCache,
            timeoutSeconds: timeout, route: route
        )
        let result: JobResult
        do {
            result = try await producer.submit(job)
        } catch let error as RedisError {
            throw CommandFailure("cannot reach Redis at \(connection.configuration.redactedDescription): \(error.message)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(Self.summary(result))
        }
        if !result.ok { throw ExitCode(2) }
    }

    static func summary(_ result: JobResult) -> String {
        guard result.ok, let metadata = result.metadata else {
            return "error \(result.error?.code ?? "unknown"): \(result.error?.message ?? "")"
        }
        var lines = [result.response ?? "", ""]
        lines.append(
            "model \(metadata.modelUsed) (tier \(metadata.tier)) · \(metadata.latencyMs) ms · queue \(metadata.queueMs) ms · confidence \(metadata.confidence.map { String(format: "%.2f", $0) } ?? "n/a") · $\(String(format: "%.6f", metadata.costUSD))"
        )
        lines.append(
            "route: \(metadata.tierDecisionReason)\(metadata.cacheHit ? " · cache hit" : "")\(metadata.fallback ? " · fallback from \(metadata.originalModel ?? "?") (\(metadata.fallbackReason ?? "?"))" : "")"
        )
        return lines.joined(separator: "\n")
    }
}
