import ArgumentParser
import ControlPlane
import Foundation
import JobProtocol
import RedisClient
import Settings

/// `cervella admin …`: the report's admin actions (4.2, 7) on the shared Redis state.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Live switches, emergency rollback, configuration and statistics of the pool.",
        subcommands: [ToggleTier.self, Rollback.self, Restore.self, SetFlag.self, Config.self, Stats.self, Report.self]
    )

    /// Loads settings and opens one connection for an admin action.
    struct Context {
        let settings: CervellaSettings
        let connection: RedisConnection
        let store: LiveConfigStore

        init(_ options: SettingsOptions) throws {
            JSONLogHandler.bootstrap(level: options.logLevel == "info" ? "warning" : options.logLevel)
            settings = try options.loadSettings()
            connection = RedisConnection(configuration: try RedisConfiguration(url: settings.redis.url), name: "admin")
            store = LiveConfigStore(connection: connection, keys: KeySpace(prefix: settings.redis.keyPrefix))
        }

        func run<T>(_ body: () async throws -> T) async throws -> T {
            defer { connection.close() }
            do { return try await body() } catch let error as RedisError {
                throw CommandFailure("cannot reach Redis at \(connection.configuration.redactedDescription): \(error.message)")
            }
        }

        static var actor: String { "cli:\(ProcessInfo.processInfo.hostName):\(getpid())" }
    }

    struct ToggleTier: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "toggle-tier", abstract: "Enable or disable a tier at once, pool-wide.")
        @OptionGroup var options: SettingsOptions
        @Argument(help: "1, 2 or 3.") var tier: Int
        @Argument(help: "on or off.") var state: String

        func validate() throws {
            guard Tier(tier) != nil else { throw ValidationError("tier must be 1, 2 or 3") }
            guard LiveFlags.bool(state) != nil else { throw ValidationError("state must be on or off") }
        }

        func run() async throws {
            let context = try Context(options)
            let enabled = LiveFlags.bool(state)!
            try await context.run { try await context.store.set(["tier\(tier)_enabled": enabled ? "true" : "false"], by: Context.actor) }
            printJSON(["tier": tier, "enabled": enabled, "message": "Tier \(tier) \(enabled ? "enabled" : "disabled")"])
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Emergency rollback: tiers 1 and 2 off, everything to Claude, effective within a second.")
        @OptionGroup var options: SettingsOptions

        func run() async throws {
            let context = try Context(options)
            try await context.run { try await context.store.emergencyRollback(by: Context.actor) }
            printJSON([
                "status": "rolled_back", "message": "All self-hosted tiers disabled, routing 100% to Claude",
                "timestamp": UTCTime(Date()).iso8601,
            ])
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop every live override: the configuration file applies again.")
        @OptionGroup var options: SettingsOptions

        func run() async throws {
            let context = try Context(options)
            try await context.run { try await context.store.reset(by: Context.actor) }
            printJSON(["status": "restored", "message": "Live overrides removed; worker.toml and the environment apply"])
        }
    }

    struct SetFlag: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract:
                "Set live flags: tier1_enabled, tier2_enabled, tier3_enabled, tier1_percentage, tier2_percentage, fallback_enabled, poc_validated, fallback_hourly_usd, fallback_daily_usd, tier1_window, tier2_window."
        )
        @OptionGroup var options: SettingsOptions
        @Argument(help: "field=value pairs, for example tier1_percentage=25 fallback_enabled=on.") var assignments: [String]

        func run() async throws {
            var fields: [String: String] = [:]
            for assignment in assignments {
                let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("'\(assignment)' is not field=value") }
                fields[parts[0]] = parts[1]
            }
            let context = try Context(options)
            let (_, problems) = LiveFlags(settings: context.settings).applying(fields)
            guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
            try await context.run { try await context.store.set(fields, by: Context.actor) }
            printJSON(["status": "set", "fields": fields])
        }
    }

    struct Config: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the effective configuration (file, environment and live overrides).")
        @OptionGroup var options: SettingsOptions

        func run() async throws {
            let context = try Context(options)
            let hash = try await context.run { try await context.store.read() }
            printJSON(ConfigReport.json(settings: context.settings, overrides: hash))
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the last 24 hours: requests per tier, fallback rate, latency, confidence, cost, savings, health.")
        @OptionGroup var options: SettingsOptions

        func run() async throws {
            let context = try Context(options)
            let report = try await context.run {
                try await StatsReport.load(connection: context.connection, keys: KeySpace(prefix: context.settings.redis.keyPrefix))
            }
            printJSON(report.json(settings: context.settings))
        }
    }
}

func printJSON(_ object: Any) {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else {
        return
    }
    print(String(decoding: data, as: UTF8.self))
}
