import Foundation
import JobProtocol
import Settings

/// The report's `/api/admin/config` JSON (4.2): the effective flags and each tier's model,
/// endpoints and threshold. API keys are never part of it.
public enum ConfigReport {
    public static func json(settings: CervellaSettings, overrides: [String: String]) -> [String: Any] {
        let (flags, problems) = LiveFlags(settings: settings).applying(overrides)
        var tiers: [String: Any] = [:]
        for number in Tier.allCases {
            let tier = settings.tier(number)
            tiers[number.description] =
                [
                    "enabled": flags.isEnabled(number), "model": tier.model, "kind": tier.kind.rawValue,
                    "endpoints": tier.endpoints, "confidence_method": tier.confidenceMethod.rawValue,
                    "confidence_threshold": tier.confidenceThreshold, "api_key_set": tier.apiKey != nil,
                ] as [String: Any]
        }
        return [
            "poc_validated": flags.pocValidated,
            "tiers": tiers,
            "classifier_mode": "rule_based",
            "fallback_enabled": flags.fallbackEnabled,
            "rollout": ["tier1_percentage": flags.tier1Percentage, "tier2_percentage": flags.tier2Percentage],
            "live_overrides": overrides,
            "live_override_problems": problems,
        ]
    }
}
