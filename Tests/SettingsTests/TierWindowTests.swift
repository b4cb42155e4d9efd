import Foundation
import Settings
import Testing

/// Tier windows: a weekly schedule per small tier, in its own time zone.
@Suite struct TierWindowTests {
    /// 2026-11-25 is a Wednesday; Rome is UTC+1 in late November.
    static func rome(_ day: Int, _ hour: Int, _ minute: Int = 0) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Rome")!
        return calendar.date(from: DateComponents(year: 2026, month: 11, day: day, hour: hour, minute: minute))!
    }

    @Test func weekdaysInRome() throws {
        let window = try TierWindow(parsing: "mon-fri 08:00-20:00 Europe/Rome", key: "tier1.window")
        #expect(window.isOpen(at: Self.rome(25, 8)))  // Wednesday 08:00
        #expect(window.isOpen(at: Self.rome(25, 19, 59)))
        #expect(!window.isOpen(at: Self.rome(25, 20)))
        #expect(!window.isOpen(at: Self.rome(25, 7, 59)))
        #expect(!window.isOpen(at: Self.rome(28, 12)))  // Saturday
        #expect(window.isOpen(at: Self.rome(30, 12)))  // Monday
    }

    @Test func overnightListsAndSeveralWindows() throws {
        let window = try TierWindow(parsing: "fri 22:00-06:00 Europe/Rome; sat,sun 10:00-24:00 UTC", key: "w")
        #expect(window.isOpen(at: Self.rome(27, 23)))  // Friday night
        #expect(window.isOpen(at: Self.rome(28, 5, 59)))  // Saturday before 06:00
        #expect(!window.isOpen(at: Self.rome(28, 6)))
        #expect(window.isOpen(at: Self.rome(29, 23)))  // Sunday 22:00 UTC
        #expect(!window.isOpen(at: Self.rome(26, 23)))  // Thursday night
        #expect(try TierWindow(parsing: "", key: "w").isOpen(at: Date()))
        #expect(try TierWindow(parsing: "daily 00:00-24:00", key: "w").isOpen(at: Date()))
    }

    @Test(arguments: [
        "weekdays 08:00-20:00", "mon-fri 8:00-20:00", "mon-fri 08:00-25:00", "mon-fri 08:00-08:00", "mon-fri 08:00-20:00 Mars/Olympus",
        "mon-fri", "mon-fri 08:00-20:00 UTC extra",
    ])
    func aBadWindowIsRefusedNamingItsPart(text: String) {
        #expect(throws: SettingsError.self) { try TierWindow(parsing: text, key: "tier1.window") }
    }

    @Test func onlySmallTiersHaveAWindow() throws {
        var settings = CervellaSettings()
        #expect(throws: SettingsError.self) { try settings.apply(toml: "[tier3]\nwindow = \"mon-fri 08:00-20:00\"") }
        try settings.apply(toml: "[tier1]\nwindow = \"mon-fri 08:00-20:00 Europe/Rome\"")
        #expect(settings.tier(.tier1).window.spans.count == 1)
    }
}
