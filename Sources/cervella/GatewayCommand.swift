import ArgumentParser
import Foundation
import Gateway
import Logging
import Observability
import ServiceLifecycle
import Settings

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "HTTP gateway: /api/chat, OpenAI-compatible /v1/chat/completions, async /api/jobs, the admin API."
    )

    @OptionGroup var options: SettingsOptions

    @Option(help: "Address to listen on. Default: gateway.host (loopback). Without API keys it stays on loopback.")
    var host: String?

    @Option(help: "Port. Default: gateway.port (8080); 0 picks a free one and prints it.")
    var port: Int?

    func run() async throws {
        JSONLogHandler.bootstrap(level: options.logLevel)
        let logger = Logger(label: "cervella.gateway")
        let settings: CervellaSettings
        settings = try options.loadSettings()
        PrometheusExport.bootstrap()
        let gateway = try GatewayServer(
            settings: settings, host: host, port: port, logger: logger,
            onListening: { port in
                FileHandle.standardOutput.write(Data("cervella gateway listening on port \(port)\n".utf8))
            })
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: gateway)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
            ))
        try await group.run()
    }
}
