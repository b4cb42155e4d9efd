import Foundation
import JobProtocol
import RedisClient
import Settings

/// `cervella admin report`: what a day, a week or a month cost, per provider, tier and model,
/// read from the hourly hashes (`HourlyStats`), which count every job exactly.
///
/// The rows come from the per-model fields (`model_calls:tier<N>:<model>` …); the totals from
/// the pool-wide ones (`cost_usd`, `claude_equivalent_usd` …), so that hours written before
/// the per-model fields existed still add up: what a tier's total holds beyond its models'
/// rows is shown as an `(unattributed)` row rather than lost.
public struct CostReport: Sendable, Equatable {
    public enum Period: String, Sendable, CaseIterable {
        /// The UTC day of the date.
        case daily
        /// The seven UTC days ending with the date.
        case weekly
        /// The date's calendar month, from its first day through the date.
        case monthly
    }

    /// The UTC days a report covers and the hourly hashes it reads.
    public struct Window: Sendable, Equatable {
        public var period: Period
        /// Start of the first day, inclusive.
        public var start: Date
        /// End of the last day, exclusive.
        public var end: Date

        /// The window of `period` ending with the UTC day of `day`.
        public init(_ period: Period, day: Date) {
            self.period = period
            let seconds = day.timeIntervalSince1970
            let dayStart = seconds.isFinite ? (seconds / 86_400).rounded(.down) * 86_400 : 0
            end = Date(timeIntervalSince1970: dayStart + 86_400)
            switch period {
            case .daily: start = Date(timeIntervalSince1970: dayStart)
            case .weekly: start = Date(timeIntervalSince1970: dayStart - 6 * 86_400)
            case .monthly: start = CostReport.monthStart(of: Date(timeIntervalSince1970: dayStart))
            }
        }

        /// The hour stamps (`YYYYMMDDHH`) of every hour in the window.
        public var hours: [String] {
            let count = max(0, Int(saturating: (end.timeIntervalSince(start) / 3600).rounded()))
            return (0..<min(count, 31 * 24)).map { HourlyStats.hourKey(start.addingTimeInterval(Double($0) * 3600)) }
        }

        /// `2026-01-10`: the first and the last day.
        public var firstDay: String { CostReport.dayString(start) }
        public var lastDay: String { CostReport.dayString(end.addingTimeInterval(-1)) }
    }

    /// What one model of one tier served and cost in the window.
    public struct Row: Sendable, Equatable {
        /// `openai-compatible` (self-hosted, vLLM or llama.cpp) or `anthropic`, from the tier's kind.
        public var provider: String
        public var tier: Tier
        public var model: String
        /// Answers the model delivered.
        public var requests: Double
        /// Provider calls billed to the model: answers, discarded small-model attempts, cancelled calls.
        public var calls: Double
        /// Tokens of the delivered answers.
        public var tokensInput: Double
        public var tokensOutput: Double
        /// Everything the model's calls cost.
        public var costUSD: Double
        /// Self-hosted tiers (report Part 8): calls / `requests_per_gpu_hour`, and those hours at `gpu_hour_usd`.
        public var gpuHours: Double
        public var gpuCostUSD: Double
    }

    /// Month-end projection of a monthly report against `budget.monthly_budget_usd`.
    public struct Projection: Sendable, Equatable {
        /// The part of the month the window covers, up to now: (0, 1].
        public var elapsedFraction: Double
        /// Cost so far / elapsed fraction.
        public var monthCostUSD: Double
        public var budgetUSD: Double
        public var overBudget: Bool { monthCostUSD > budgetUSD }
    }

    public var window: Window
    /// Hours of the window that had a hash (an hour without traffic has none).
    public var hoursWithData: Int
    public var rows: [Row]
    /// The summed fields of the window's hashes.
    public var totals: [String: Double]
    public var projection: Projection?

    func value(_ field: String) -> Double { totals[field] ?? 0 }

    /// Requests routed to a tier (a fallback hop is not a new request).
    public var requestsRouted: Double { Tier.allCases.map { value("requests:tier\($0)") }.reduce(0, +) }
    public var costUSD: Double { value("cost_usd") }
    public var fallbacks: Double { Tier.allCases.map { value("fallbacks:tier\($0)") }.reduce(0, +) }
    /// Discarded small-model attempts plus Claude's calls on fallback hops.
    public var fallbackCostUSD: Double { value("fallback_cost_usd") }
    public var fallbacksSuppressedByBudget: Double { value("fallback_suppressed:budget") }
    public var cacheHits: Double { value("cache_hits") }
    public var cacheSavedUSD: Double { value("cache_saved_usd") }
    public var coalescedHits: Double { value("coalesced_hits") }
    public var coalescedSavedUSD: Double { value("coalesced_saved_usd") }
    public var messageBatchAnswers: Double { value("message_batch_answers") }
    public var messageBatchSavedUSD: Double { value("message_batch_saved_usd") }
    /// What Claude alone would have cost for every answer, cached ones included.
    public var claudeOnlyUSD: Double { value("claude_equivalent_usd") }
    public var savingUSD: Double { claudeOnlyUSD - costUSD }
    /// The saving as a percentage of the Claude-only cost; nil without any.
    public var savingPercent: Double? { claudeOnlyUSD > 0 ? savingUSD / claudeOnlyUSD * 100 : nil }

    /// Reads the window's hashes in one pipeline and builds the report.
    public static func load(
        connection: RedisConnection, keys: KeySpace, period: Period, day: Date, settings: CervellaSettings, now: Date = Date()
    ) async throws -> CostReport {
        let window = Window(period, day: day)
        let hours = window.hours
        let replies = try await connection.pipeline(hours.map { RedisCommand("HGETALL", RedisArgument(keys.stats(hour: $0))) })
        return CostReport(window: window, replies: replies, settings: settings, now: now)
    }

    /// The report of `window` from its hashes' HGETALL replies, priced by `settings`.
    public init(window: Window, replies: [RedisValue], settings: CervellaSettings, now: Date) {
        self.window = window
        hoursWithData = replies.filter { !($0.array ?? []).isEmpty }.count
        totals = Self.sum(replies)
        rows = Self.rows(totals, settings: settings)
        projection = window.period == .monthly ? Self.projection(cost: totals["cost_usd"] ?? 0, window: window, settings: settings, now: now) : nil
    }
}

extension CostReport {
    /// The largest figure a field may add: counters and dollars read from Redis are anybody's
    /// writing, and one absurd value must not swamp a month (nor reach a conversion that traps).
    static let largestValue = 1e15
    /// Fields kept from the window: a flood of junk fields must not grow the report without bound.
    static let maximumFields = 20_000

    /// The HGETALL replies summed per field; values that are not finite numbers within
    /// ±`largestValue`, and field names over 256 bytes, are skipped.
    static func sum(_ replies: [RedisValue]) -> [String: Double] {
        var totals: [String: Double] = [:]
        for reply in replies {
            let values = reply.array ?? []
            var index = 0
            while index + 1 < values.count {
                defer { index += 2 }
                guard let bytes = values[index].bytes, bytes.count <= 256, let field = values[index].string,
                    let text = values[index + 1].string, text.utf8.count <= 64, let number = Double(text), number.isFinite,
                    abs(number) <= largestValue
                else { continue }
                if totals[field] == nil, totals.count >= maximumFields { continue }
                totals[field, default: 0] += number
            }
        }
        return totals
    }

    /// The per-model fields read: their name before `:tier<N>:<model>`.
    static let modelFields = ["model_calls", "model_answered", "model_tokens_input", "model_tokens_output", "model_cost_usd"]

    /// One row per tier and model found in the fields, ordered by tier then model, and an
    /// `(unattributed)` row for what a tier's pool-wide answers and cost hold beyond its models.
    static func rows(_ totals: [String: Double], settings: CervellaSettings) -> [Row] {
        struct Key: Hashable, Comparable {
            var tier: Tier
            var model: String
            static func < (a: Key, b: Key) -> Bool { (a.tier, a.model) < (b.tier, b.model) }
        }
        var figures: [Key: [String: Double]] = [:]
        for (field, number) in totals {
            let parts = field.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, modelFields.contains(String(parts[0])), parts[1].hasPrefix("tier"),
                let tier = Int(parts[1].dropFirst(4)).flatMap({ Tier($0) }), !parts[2].isEmpty,
                parts[2].count <= HourlyStats.maxModelNameLength
            else { continue }
            figures[Key(tier: tier, model: String(parts[2])), default: [:]][String(parts[0]), default: 0] += number
        }
        var rows: [Row] = []
        for key in figures.keys.sorted() {
            let fields = figures[key] ?? [:]
            rows.append(
                row(
                    tier: key.tier, model: key.model, settings: settings, requests: fields["model_answered"] ?? 0, calls: fields["model_calls"] ?? 0,
                    tokensInput: fields["model_tokens_input"] ?? 0, tokensOutput: fields["model_tokens_output"] ?? 0,
                    cost: fields["model_cost_usd"] ?? 0))
        }
        for tier in Tier.allCases {
            let modelRows = rows.filter { $0.tier == tier }
            let answers = (totals["answered:tier\(tier)"] ?? 0) - modelRows.map(\.requests).reduce(0, +)
            let cost = (totals["cost_usd:tier\(tier)"] ?? 0) - modelRows.map(\.costUSD).reduce(0, +)
            // HINCRBYFLOAT sums in long doubles; a millionth of a cent is rounding, not spend.
            guard answers >= 1 || cost > 1e-8 else { continue }
            rows.append(
                row(
                    tier: tier, model: unattributed, settings: settings, requests: max(0, answers), calls: 0, tokensInput: 0, tokensOutput: 0,
                    cost: max(0, cost)))
        }
        return rows.sorted { ($0.tier, $0.model == unattributed ? 1 : 0, $0.model) < ($1.tier, $1.model == unattributed ? 1 : 0, $1.model) }
    }

    /// The model of a row for counts of hours that had no per-model fields.
    public static let unattributed = "(unattributed)"

    static func row(
        tier: Tier, model: String, settings: CervellaSettings, requests: Double, calls: Double, tokensInput: Double, tokensOutput: Double,
        cost: Double
    ) -> Row {
        let tierSettings = settings.tier(tier)
        let selfHosted = tierSettings.kind == .openai && tierSettings.requestsPerGPUHour > 0
        let gpuHours = selfHosted ? calls / tierSettings.requestsPerGPUHour : 0
        return Row(
            provider: tierSettings.kind == .anthropic ? "anthropic" : "openai-compatible", tier: tier, model: model, requests: requests,
            calls: calls, tokensInput: tokensInput, tokensOutput: tokensOutput, costUSD: cost, gpuHours: gpuHours,
            gpuCostUSD: gpuHours * tierSettings.gpuHourUSD)
    }

    /// Cost so far over the elapsed part of the month (up to `now`, or the window's end when
    /// that is earlier), against the monthly budget.
    static func projection(cost: Double, window: Window, settings: CervellaSettings, now: Date) -> Projection {
        let monthStart = monthStart(of: window.start)
        let monthEnd = nextMonthStart(of: window.start)
        let length = monthEnd.timeIntervalSince(monthStart)
        let elapsed = min(now, window.end).timeIntervalSince(monthStart)
        // At least an hour: a projection from the month's first minutes would be noise times 700.
        let fraction = min(1, max(3600, elapsed) / length)
        return Projection(elapsedFraction: fraction, monthCostUSD: cost / fraction, budgetUSD: settings.budget.monthlyBudgetUSD)
    }

    static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar
    }

    static func monthStart(of date: Date) -> Date {
        utc.date(from: utc.dateComponents([.year, .month], from: date)) ?? date
    }

    static func nextMonthStart(of date: Date) -> Date {
        utc.date(byAdding: .month, value: 1, to: monthStart(of: date)) ?? date.addingTimeInterval(31 * 86_400)
    }

    static func dayString(_ date: Date) -> String {
        String(UTCTime(date).iso8601.prefix(10))
    }

    /// The UTC day `YYYY-MM-DD` names (its midnight), or nil when it is not a real date
    /// between 2000 and 9999.
    public static func day(_ text: String) -> Date? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (2000...9999).contains(year)
        else { return nil }
        guard let date = utc.date(from: DateComponents(year: year, month: month, day: day)), dayString(date) == text else { return nil }
        return date
    }
}
