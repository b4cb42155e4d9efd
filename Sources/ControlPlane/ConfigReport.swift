import Foundation
import JobProtocol
import Settings

/// The report's `/api/admin/config` JSON (4.2): the effective flags and each tier's model,
/// endpoints and threshold. API keys are never part of it.
public enum ConfigReport {
    public static func json(settings: CervellaSettings, overrides: [String: String], now: Date = Date()) -> [String: Any] {
        let (flags, problems) = LiveFlags(settings: settings).applying(overrides)
        var tiers: [String: Any] = [:]
        for number in Tier.allCases {
            let tier = settings.tier(number)
            tiers[number.description] =
                [
                    "enabled": flags.isEnabled(number), "model": tier.model, "kind": tier.kind.rawValue,
                    "endpoints": tier.endpoints, "confidence_method": tier.confidenceMethod.rawValue,
                    "confidence_threshold": tier.confidenceThreshold, "api_key_set": tier.apiKey != nil,
                    "window": flags.windows[number].map(\.description) ?? "", "in_window": flags.isInWindow(number, at: now),
                ] as [String: Any]
        }
        var calibration: [String: Any] = [:]
        for (key, entry) in flags.calibration.entries {
            var fields: [String: Any] = [
                "signal": entry.signal.rawValue, "threshold": entry.threshold, "calibrated_threshold": entry.calibrated(entry.threshold),
                "map_points": entry.map.count,
            ]
            if let target = entry.targetFallbackRate { fields["target_fallback_rate"] = target }
            calibration[key] = fields
        }
        var shownOverrides = overrides
        if overrides["calibration"] != nil {
            shownOverrides["calibration"] = "(\(flags.calibration.entries.count) entries: see calibration)"
        }
        return [
            "poc_validated": flags.pocValidated,
            "calibration": calibration,
            "calibration_source": overrides["calibration"] != nil ? "live" : settings.routing.calibration.isEmpty ? "none" : "file",
            "tiers": tiers,
            "classifier_mode": "rule_based",
            "fallback_enabled": flags.fallbackEnabled,
            "fallback_budget": [
                "hourly_usd": flags.fallbackHourlyUSD, "daily_usd": flags.fallbackDailyUSD, "near_share": settings.budget.fallbackNearShare,
                "error_overrun": settings.budget.fallbackErrorOverrun,
            ],
            "single_flight": settings.cache.enabled && settings.cache.singleFlight,
            "backlog_deadline_share": settings.routing.backlogDeadlineShare,
            "rollout": ["tier1_percentage": flags.tier1Percentage, "tier2_percentage": flags.tier2Percentage],
            "live_overrides": shownOverrides,
            "live_override_problems": problems,
        ]
    }
}
