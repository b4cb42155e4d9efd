/// Conversions from outside numbers that never trap.
///
/// `Int(someDouble)` traps on NaN, on infinity and outside Int's range, and a trap in a worker
/// is a crash that the reaper hands to the next worker. Every conversion of a number that came
/// from a job, a request, a provider or Redis goes through one of these instead.
extension Int {
    /// `value` rounded toward zero and clamped to Int's range; NaN is 0.
    public init(saturating value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9.223372036854775e18 {
            self = .max
        } else if value <= -9.223372036854775e18 {
            self = .min
        } else {
            self = Int(value)
        }
    }

    /// Whole milliseconds in `seconds`, rounded, never below zero; saturates instead of trapping.
    public static func milliseconds(fromSeconds seconds: Double) -> Int {
        Swift.max(0, Int(saturating: (seconds * 1000).rounded()))
    }
}

extension Duration {
    /// `seconds` as a duration, clamped to zero … one year (NaN is zero): for settings and
    /// outside values that should never make a timer trap.
    public static func seconds(saturating seconds: Double) -> Duration {
        guard !seconds.isNaN, seconds > 0 else { return .zero }
        return .milliseconds(Int.milliseconds(fromSeconds: Swift.min(seconds, 31_536_000)))
    }

    /// Whole milliseconds in the duration, saturating.
    public var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflowSum) = Int(truncatingIfNeeded: scaled).addingReportingOverflow(Int(attoseconds / 1_000_000_000_000_000))
        return overflowSum ? .max : sum
    }
}
