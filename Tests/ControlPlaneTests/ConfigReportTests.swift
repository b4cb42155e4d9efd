import ControlPlane
import Foundation
import Settings
import Testing

/// `/api/admin/config`: the effective switches and each tier's setup, never a secret.
@Suite struct ConfigReportTests {
    static func settings() -> CervellaSettings {
        var settings = CervellaSettings()
        settings.tiers[.tier3]?.apiKey = "sk-ant-very-secret"
        settings.gateway.apiKeys = ["gateway-secret"]
        settings.gateway.adminKey = "admin-secret"
        return settings
    }

    @Test func liveOverridesShowInTheEffectiveFlags() {
        let json = ConfigReport.json(settings: Self.settings(), overrides: ["tier1_enabled": "false", "tier1_percentage": "30", "bogus": "1"])
        let tiers = json["tiers"] as? [String: [String: Any]]
        #expect(tiers?["1"]?["enabled"] as? Bool == false)
        #expect(tiers?["3"]?["enabled"] as? Bool == true)
        #expect(tiers?["1"]?["model"] as? String == "qwen3-4b")
        #expect(tiers?["3"]?["kind"] as? String == "anthropic")
        #expect((json["rollout"] as? [String: Double])?["tier1_percentage"] == 30)
        #expect(json["live_overrides"] as? [String: String] == ["tier1_enabled": "false", "tier1_percentage": "30", "bogus": "1"])
        #expect(json["live_override_problems"] as? [String] == ["unknown field bogus"])
        #expect(json["fallback_enabled"] as? Bool == true)
    }

    @Test func keysAreNeverPartOfIt() throws {
        let json = ConfigReport.json(settings: Self.settings(), overrides: [:])
        let tiers = json["tiers"] as? [String: [String: Any]]
        #expect(tiers?["3"]?["api_key_set"] as? Bool == true)
        #expect(tiers?["1"]?["api_key_set"] as? Bool == false)
        let text = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        #expect(!text.contains("secret"))
    }
}
