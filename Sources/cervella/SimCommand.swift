import ArgumentParser
import Foundation
import Logging
import ProviderSimulator
import ServiceLifecycle

struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run the provider simulator: vLLM's OpenAI API and Anthropic's Messages API, with #sim directives."
    )

    @Option(help: "Address to listen on. Loopback by default; the simulator has no authentication worth the name.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one and prints it).")
    var port: Int = 8090

    @Option(help: "Latency added to every answer, in milliseconds.")
    var latencyMs: Int = 0

    @Option(help: "Random extra latency, uniform in 0...jitter, in milliseconds.")
    var jitterMs: Int = 0

    @Option(help: "Fraction of requests answered with an overload error (0...1).")
    var errorRate: Double = 0

    @Option(help: "Seconds a Message Batch stays in_progress before it ends with its results (0 to 86400).")
    var batchSeconds: Double = 2

    @Option(help: "Seconds after which a Message Batch expires: its unfinished entries end `expired` (1 to 86400).")
    var batchExpirySeconds: Double = 86_400

    @Option(help: "Log level.")
    var logLevel: String = "info"

    func validate() throws {
        guard (0...1).contains(errorRate) else { throw ValidationError("--error-rate must be between 0 and 1") }
        guard latencyMs >= 0, jitterMs >= 0 else { throw ValidationError("--latency-ms and --jitter-ms must not be negative") }
        guard (0...86_400).contains(batchSeconds) else { throw ValidationError("--batch-seconds must be between 0 and 86400") }
        guard (1...86_400).contains(batchExpirySeconds) else { throw ValidationError("--batch-expiry-seconds must be between 1 and 86400") }
    }

    func run() async throws {
        JSONLogHandler.bootstrap(level: logLevel)
        let logger = Logger(label: "cervella.sim")
        var configuration = SimulatorConfiguration(host: host, port: port, defaultLatencyMs: latencyMs, jitterMs: jitterMs, errorRate: errorRate)
        configuration.batchProcessingSeconds = batchSeconds
        configuration.batchExpirySeconds = batchExpirySeconds
        let simulator = ProviderSimulator(
            configuration: configuration,
            logger: logger,
            onListening: { port in
                FileHandle.standardOutput.write(Data("cervella sim listening on http://\(host):\(port)\n".utf8))
            }
        )
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: simulator)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
            ))
        try await group.run()
    }
}
