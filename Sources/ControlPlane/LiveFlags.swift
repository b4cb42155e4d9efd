import Foundation
import JobProtocol
import Settings
import Synchronization

/// The switches an operator can flip at run time, without a restart (report 4.2 and 7):
/// tier enables, rollout percentages, the fallback, and whether the POC is validated.
///
/// Start-up values come from `worker.toml` and the environment; fields present in the
/// `cervella:config` hash override them.
public struct LiveFlags: Sendable, Equatable {
    public var tierEnabled: [Tier: Bool]
    public var tier1Percentage: Double
    public var tier2Percentage: Double
    public var fallbackEnabled: Bool
    public var pocValidated: Bool
    /// Per task type confidence signals, maps and thresholds (`cervella calibrate`); the hash's
    /// `calibration` field (a JSON table) replaces the file's `[calibration]` whole.
    public var calibration: CalibrationTable
    /// The escalation budget's caps on Claude spend for fallbacks (0: no cap).
    public var fallbackHourlyUSD: Double
    public var fallbackDailyUSD: Double
    /// When each small tier serves (`tier<N>_window`; `TierWindow`).
    public var windows: [Tier: TierWindow]

    public init(settings: CervellaSettings) {
        fallbackHourlyUSD = settings.budget.fallbackHourlyUSD
        fallbackDailyUSD = settings.budget.fallbackDailyUSD
        windows = Dictionary(uniqueKeysWithValues: Tier.allCases.filter(\.isSmall).map { ($0, settings.tier($0).window) })
        tierEnabled = Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0, settings.tier($0).enabled) })
        tier1Percentage = settings.routing.tier1Percentage
        tier2Percentage = settings.routing.tier2Percentage
        fallbackEnabled = settings.fallback.enabled
        pocValidated = settings.routing.pocValidated
        calibration = settings.routing.calibration
    }

    public func isEnabled(_ tier: Tier) -> Bool { tierEnabled[tier] ?? true }

    /// True when `tier` is inside its window at `date` (always, without one).
    public func isInWindow(_ tier: Tier, at date: Date) -> Bool { windows[tier]?.isOpen(at: date) ?? true }

    /// True when a cap of the escalation budget is set.
    public var capsFallbacks: Bool { fallbackHourlyUSD > 0 || fallbackDailyUSD > 0 }

    /// The hash fields an operator may set, and what they mean.
    public static let fields = [
        "tier1_enabled", "tier2_enabled", "tier3_enabled", "tier1_percentage", "tier2_percentage",
        "fallback_enabled", "poc_validated", "calibration", "fallback_hourly_usd", "fallback_daily_usd", "tier1_window", "tier2_window",
    ]

    /// These flags with the hash's fields applied; unknown or unreadable fields are skipped
    /// (and reported), so one bad value cannot stop the pool.
    public func applying(_ hash: [String: String]) -> (flags: LiveFlags, problems: [String]) {
        var flags = self
        var problems: [String] = []
        for (field, value) in hash {
            switch field {
            case "tier1_enabled", "tier2_enabled", "tier3_enabled":
                guard let enabled = Self.bool(value), let tier = Int(String(field.dropFirst(4).prefix(1))).flatMap({ Tier($0) }) else {
                    problems.append("\(field)=\(value) is not a boolean"); continue
                }
                flags.tierEnabled[tier] = enabled
            case "tier1_percentage", "tier2_percentage":
                guard let percentage = Double(value), (0...100).contains(percentage) else {
                    problems.append("\(field)=\(value) is not a percentage 0–100"); continue
                }
                if field == "tier1_percentage" { flags.tier1Percentage = percentage } else { flags.tier2Percentage = percentage }
            case "fallback_enabled":
                guard let enabled = Self.bool(value) else { problems.append("\(field)=\(value) is not a boolean"); continue }
                flags.fallbackEnabled = enabled
            case "poc_validated":
                guard let validated = Self.bool(value) else { problems.append("\(field)=\(value) is not a boolean"); continue }
                flags.pocValidated = validated
            case "fallback_hourly_usd", "fallback_daily_usd":
                guard let dollars = Double(value), dollars.isFinite, (0...1_000_000).contains(dollars) else {
                    problems.append("\(field)=\(value) is not 0 (no cap) to 1000000 dollars"); continue
                }
                if field == "fallback_hourly_usd" { flags.fallbackHourlyUSD = dollars } else { flags.fallbackDailyUSD = dollars }
            case "tier1_window", "tier2_window":
                let tier: Tier = field == "tier1_window" ? .tier1 : .tier2
                do throws(SettingsError) {
                    flags.windows[tier] = try TierWindow(parsing: value, key: field)
                } catch {
                    problems.append("\(error.key): \(error.message)")
                }
            case "calibration":
                switch Self.parsedCalibration(value) {
                case .success(let table): flags.calibration = table
                case .failure(let error): problems.append("\(error.key): \(error.message)")
                }
            case "updated_at", "updated_by", "reason":
                continue
            default:
                problems.append("unknown field \(field)")
            }
        }
        return (flags, problems)
    }

    /// The last calibration text parsed and what it gave: the hash is re-read four times a
    /// second, and the table (up to 256 KiB of JSON) changes only when calibrate applies one.
    private static let lastCalibration = Mutex<(text: String, table: Result<CalibrationTable, SettingsError>)?>(nil)

    static func parsedCalibration(_ text: String) -> Result<CalibrationTable, SettingsError> {
        if let cached = lastCalibration.withLock({ $0 }), cached.text == text { return cached.table }
        let table = Result { () throws(SettingsError) in try CalibrationTable.parse(json: text) }
        lastCalibration.withLock { $0 = (text, table) }
        return table
    }

    public static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "true", "on", "yes": return true
        case "0", "false", "off", "no": return false
        default: return nil
        }
    }
}
