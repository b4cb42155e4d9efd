import ArgumentParser
import Foundation
import JobProtocol
import Logging
import Observability
import ServiceLifecycle
import Settings
import WorkerPool

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Pop jobs from the tier queues, call each tier's provider, reply or fall back to Claude."
    )

    @OptionGroup var options: SettingsOptions

    @Option(help: "Comma-separated queues to serve, in priority order (tier1,tier2,tier3,fallback). Default: worker.queues.")
    var queues: String?

    @Option(help: "Jobs in flight at once. Default: worker.concurrency.")
    var concurrency: Int?

    @Option(help: "Serve GET /metrics on this port. Default: worker.metrics_port (0: off).")
    var metricsPort: Int?

    @Option(
        help:
            "Address of the metrics listener. Default: 127.0.0.1. The listener has no authentication: open it (0.0.0.0) only on a private network such as compose's, for its Prometheus."
    )
    var metricsHost = "127.0.0.1"

    @Flag(help: .hidden)
    var probation = false

    @Option(help: .hidden)
    var workerID: String?

    func run() async throws {
        JSONLogHandler.bootstrap(level: options.logLevel)
        let logger = Logger(label: "cervella.worker")
        let settings = try options.loadSettings()
        var queueList: [QueueName]?
        if let queues {
            queueList = try queues.split(separator: ",").map { name in
                guard let queue = QueueName(rawValue: name.trimmingCharacters(in: .whitespaces)), QueueName.workQueues.contains(queue) else {
                    throw ValidationError("unknown queue '\(name)' in --queues; use tier1, tier2, tier3 or fallback")
                }
                return queue
            }
        }
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        PrometheusExport.bootstrap()
        // A probation process (started by a worker for quarantined jobs, docs/RELIABILITY.md)
        // is this same command with --probation; it gets the worker's own arguments.
        let worker = try Worker(
            settings: settings, queues: queueList, concurrency: concurrency, id: workerID ?? WorkerIdentity.current(),
            role: probation ? .probation : .worker,
            probation: .currentExecutable(arguments: Array(CommandLine.arguments.dropFirst())), logger: logger
        )
        // The worker ending (drained, or a probation process whose quarantine is empty) ends
        // the process with status 0; a metrics listener just follows.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)
        ]
        let port = probation ? 0 : metricsPort ?? settings.worker.metricsPort
        if port > 0 {
            services.append(
                .init(service: MetricsServer(host: metricsHost, port: port, logger: logger), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
