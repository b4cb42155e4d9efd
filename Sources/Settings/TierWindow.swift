import Foundation

/// When a small tier serves: a weekly schedule in one time zone, for example
/// `mon-fri 08:00-20:00 Europe/Rome` (the GPU host is rented on weekdays; Claude serves outside).
///
/// Written as one or more windows separated by `;`, each `<days> <HH:MM>-<HH:MM> [<zone>]`:
/// days are `mon` … `sun`, ranges (`mon-fri`), lists (`mon,wed,fri`) or `daily`; the zone is an
/// IANA name (`Europe/Rome`, default `UTC`); `24:00` ends a day; an end before the start runs past
/// midnight (`fri 22:00-06:00` is Friday night to Saturday 06:00). An empty schedule is always
/// open. Outside its windows a tier is off for routing as if switched off, and the reason says
/// so (`…_tier1_outside_window`).
public struct TierWindow: Sendable, Equatable, CustomStringConvertible {
    public struct Span: Sendable, Equatable {
        /// Days the span starts on, 1 = Monday … 7 = Sunday.
        public var days: Set<Int>
        /// Minutes after midnight, `start` in 0..<1440, `end` in 1...1440.
        public var start: Int
        public var end: Int
        public var zone: String
    }

    public var spans: [Span]
    /// The text it was read from, shown back as written.
    public var description: String

    /// Always open.
    public init() {
        spans = []
        description = ""
    }

    public var isAlwaysOpen: Bool { spans.isEmpty }

    static let dayNames = ["mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7]

    /// Reads a schedule; the error names the part that is wrong. At most 2 KiB and 32 windows.
    public init(parsing text: String, key: String) throws(SettingsError) {
        guard text.utf8.count <= 2_048 else { throw SettingsError(key: key, "is longer than 2048 bytes") }
        description = text.trimmingCharacters(in: .whitespaces)
        spans = []
        let parts = text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard parts.count <= 32 else { throw SettingsError(key: key, "has more than 32 windows") }
        for part in parts {
            let words = part.split(whereSeparator: \.isWhitespace).map(String.init)
            guard (2...3).contains(words.count) else {
                throw SettingsError(key: key, "'\(part)' is not '<days> <HH:MM>-<HH:MM> [<zone>]' (for example 'mon-fri 08:00-20:00 Europe/Rome')")
            }
            let days = try Self.days(words[0], key: key)
            let times = words[1].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard times.count == 2, let start = Self.minutes(times[0]), let end = Self.minutes(times[1]), start < 1_440, end > 0,
                start != end
            else {
                throw SettingsError(key: key, "'\(words[1])' is not a time range such as 08:00-20:00 (24:00 ends a day; start and end differ)")
            }
            let zone = words.count == 3 ? words[2] : "UTC"
            guard TimeZone(identifier: zone) != nil else {
                throw SettingsError(key: key, "'\(zone)' is not a known time zone (an IANA name such as Europe/Rome, or UTC)")
            }
            spans.append(Span(days: days, start: start, end: end, zone: zone))
        }
    }

    private static func days(_ word: String, key: String) throws(SettingsError) -> Set<Int> {
        let lower = word.lowercased()
        if lower == "daily" || lower == "*" { return Set(1...7) }
        var days = Set<Int>()
        for item in lower.split(separator: ",") {
            let ends = item.split(separator: "-").map(String.init)
            guard (1...2).contains(ends.count), let first = dayNames[ends[0]], let last = dayNames[ends.last!] else {
                throw SettingsError(key: key, "'\(word)' is not a set of days (mon … sun, ranges such as mon-fri, lists such as mon,wed, or daily)")
            }
            var day = first
            while true {
                days.insert(day)
                if day == last { break }
                day = day % 7 + 1
            }
        }
        return days
    }

    private static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
            (0...24).contains(hours), (0..<60).contains(minutes), hours < 24 || minutes == 0
        else { return nil }
        return hours * 60 + minutes
    }

    /// True when `date` falls in one of the windows (always, for an empty schedule).
    public func isOpen(at date: Date) -> Bool {
        guard !spans.isEmpty else { return true }
        for span in spans {
            guard let zone = TimeZone(identifier: span.zone) else { continue }
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
            guard let weekday = parts.weekday, let hour = parts.hour, let minute = parts.minute else { continue }
            // Foundation's weekday is 1 = Sunday; here 1 = Monday.
            let day = (weekday + 5) % 7 + 1
            let now = hour * 60 + minute
            if span.start < span.end {
                if span.days.contains(day), now >= span.start, now < span.end { return true }
            } else {
                let yesterday = (day + 5) % 7 + 1
                if span.days.contains(day), now >= span.start { return true }
                if span.days.contains(yesterday), now < span.end { return true }
            }
        }
        return false
    }
}
