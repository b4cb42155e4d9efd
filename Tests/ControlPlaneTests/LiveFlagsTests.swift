import ControlPlane
import Settings
import Testing

/// The switches an operator sets in the `cervella:config` hash, over the file's settings.
@Suite struct LiveFlagsTests {
    static let base = LiveFlags(settings: CervellaSettings())

    @Test func startUpValuesComeFromTheSettings() {
        var settings = CervellaSettings()
        settings.tiers[.tier2]?.enabled = true
        settings.fallback.enabled = false
        settings.routing.tier1Percentage = 40
        let flags = LiveFlags(settings: settings)
        #expect(flags.tierEnabled == [.tier1: true, .tier2: true, .tier3: true])
        #expect(flags.fallbackEnabled == false)
        #expect(flags.tier1Percentage == 40)
    }

    @Test func hashFieldsOverrideTheSettings() {
        let (flags, problems) = Self.base.applying([
            "tier1_enabled": "off", "tier2_enabled": "YES", "tier1_percentage": "25.5", "tier2_percentage": "100",
            "fallback_enabled": "0", "poc_validated": "true", "updated_at": "1767225600", "updated_by": "gateway", "reason": "x",
        ])
        #expect(problems.isEmpty)
        #expect(flags.tierEnabled[.tier1] == false)
        #expect(flags.tierEnabled[.tier2] == true)
        #expect(flags.tier1Percentage == 25.5)
        #expect(flags.tier2Percentage == 100)
        #expect(flags.fallbackEnabled == false)
        #expect(flags.pocValidated == true)
    }

    @Test func unreadableFieldsAreSkippedAndReported() {
        let (flags, problems) = Self.base.applying(["tier1_enabled": "maybe", "tier1_percentage": "101", "tier2_percentage": "-1", "colour": "blue"])
        #expect(flags == Self.base)
        #expect(
            Set(problems) == [
                "tier1_enabled=maybe is not a boolean", "tier1_percentage=101 is not a percentage 0–100",
                "tier2_percentage=-1 is not a percentage 0–100", "unknown field colour",
            ])
    }

    @Test func booleansAreWrittenTheUsualWays() {
        for yes in ["1", "true", "TRUE", "on", "yes"] { #expect(LiveFlags.bool(yes) == true, "\(yes)") }
        for no in ["0", "false", "Off", "no"] { #expect(LiveFlags.bool(no) == false, "\(no)") }
        for neither in ["", "2", "y", "enabled"] { #expect(LiveFlags.bool(neither) == nil, "\(neither)") }
    }

    @Test func everyDocumentedFieldIsUnderstood() {
        for field in LiveFlags.fields {
            let value =
                field.hasSuffix("percentage") || field.hasSuffix("_usd")
                ? "50"
                : field == "calibration"
                    ? #"{"1/*":{"signal":"tail","threshold":0.4}}"# : field.hasSuffix("_window") ? "mon-fri 08:00-20:00 Europe/Rome" : "true"
            #expect(Self.base.applying([field: value]).problems.isEmpty, "\(field)")
        }
    }

    @Test func calibrationReplacesTheFilesTableAndABadOneIsReported() {
        let table = #"{"1/summary":{"signal":"p10","threshold":0.4,"map":[[0.2,0.1],[0.8,0.9]],"target_fallback_rate":0.2}}"#
        let applied = Self.base.applying(["calibration": table])
        #expect(applied.problems.isEmpty)
        #expect(applied.flags.calibration.entry(tier: 1, taskType: "summary")?.signal == .p10)
        // The same text twice gives the same table (the parse is memoised).
        #expect(Self.base.applying(["calibration": table]).flags == applied.flags)
        let bad = Self.base.applying(["calibration": #"{"1/summary":{"signal":"p10"}}"#])
        #expect(bad.problems == [#"calibration."1/summary".threshold: must be a number in 0...1"#])
        #expect(bad.flags.calibration == Self.base.calibration)
    }
}
