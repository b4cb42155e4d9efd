import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// UTC calendar fields without a DateFormatter: building one costs more than a whole job's
/// Redis work (ICU loads its locale data each time), and these formats never change.
public struct UTCTime: Sendable, Equatable {
    public var year, month, day, hour, minute, second: Int

    public init(_ date: Date) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var fields = tm()
        gmtime_r(&seconds, &fields)
        year = Int(fields.tm_year) + 1900
        month = Int(fields.tm_mon) + 1
        day = Int(fields.tm_mday)
        hour = Int(fields.tm_hour)
        minute = Int(fields.tm_min)
        second = Int(fields.tm_sec)
    }

    /// `2026-11-27T09:05:03Z`, as ISO8601DateFormatter writes it by default.
    public var iso8601: String {
        "\(Self.pad(year, 4))-\(Self.pad(month))-\(Self.pad(day))T\(Self.pad(hour)):\(Self.pad(minute)):\(Self.pad(second))Z"
    }

    /// `2026-11-27T09:05:03.120Z`: with milliseconds, for log lines.
    public static func iso8601Milliseconds(_ date: Date) -> String {
        let millis = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        return String(UTCTime(date).iso8601.dropLast()) + "." + pad(millis, 3) + "Z"
    }

    /// `2026112709`: the hour a statistics hash is named after.
    public var hourStamp: String { "\(Self.pad(year, 4))\(Self.pad(month))\(Self.pad(day))\(Self.pad(hour))" }

    /// `20261127`: the UTC day, for daily keys.
    public var dayStamp: String { "\(Self.pad(year, 4))\(Self.pad(month))\(Self.pad(day))" }

    private static func pad(_ value: Int, _ width: Int = 2) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
