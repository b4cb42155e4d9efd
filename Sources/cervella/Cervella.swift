import ArgumentParser
import Foundation
import Settings

/// The `cervella` executable: parses arguments and wires library services together.
@main
struct Cervella: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cervella",
        abstract: "A tiered LLM worker pool on Redis: a cheap model answers most requests, Claude catches the rest.",
        subcommands: [
            WorkerCommand.self, GatewayCommand.self, AskCommand.self, BatchCommand.self, AdminCommand.self, POCCommand.self, CalibrateCommand.self,
            SimCommand.self, BenchCommand.self,
        ]
    )
}

/// Options every subcommand that reads `worker.toml` shares.
struct SettingsOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (TOML). Default: ./worker.toml when it exists, else built-in defaults.")
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    /// The settings from the file and the environment; a problem stops the command with a
    /// message naming the key.
    func loadSettings() throws -> CervellaSettings {
        do { return try CervellaSettings.load(path: configPath()) } catch { throw CommandFailure("\(error)") }
    }

    func configPath() -> String? {
        if let config { return config }
        return FileManager.default.fileExists(atPath: "worker.toml") ? "worker.toml" : nil
    }
}

/// A failure to report without the usage text: ArgumentParser prints "Error: <message>" and exits 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
