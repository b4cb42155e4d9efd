import ArgumentParser
import ControlPlane
import Foundation
import JobProtocol

extension AdminCommand {
    /// `cervella admin report --daily|--weekly|--monthly [--json|--csv] [--date YYYY-MM-DD]`:
    /// the cost report (`CostReport`) of a UTC day, week or month to date.
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cost per provider, tier and model, GPU hours, fallback cost, savings and the month's projection, from the hourly stats."
        )
        @OptionGroup var options: SettingsOptions
        @Flag(help: "The period: a UTC day, the 7 days ending with it, or its calendar month to date.") var period: Period
        @Flag(help: "Output format (default: a text table).") var format: Format = .text
        @Option(help: "The last day of the period, YYYY-MM-DD (UTC); default today.") var date: String?

        enum Period: String, EnumerableFlag {
            case daily, weekly, monthly
        }

        enum Format: String, EnumerableFlag {
            case text, json, csv
        }

        func validate() throws {
            if let date, CostReport.day(date) == nil { throw ValidationError("--date must be a UTC day as YYYY-MM-DD, like 2026-01-31") }
        }

        func run() async throws {
            let context = try Context(options)
            let now = Date()
            let day = date.flatMap(CostReport.day) ?? now
            let report = try await context.run {
                try await CostReport.load(
                    connection: context.connection, keys: KeySpace(prefix: context.settings.redis.keyPrefix),
                    period: CostReport.Period(rawValue: period.rawValue) ?? .daily, day: day,
                    settings: context.settings, now: now)
            }
            switch format {
            case .text: print(report.text(), terminator: "")
            case .json: printJSON(report.json())
            case .csv: print(report.csv(), terminator: "")
            }
        }
    }
}
