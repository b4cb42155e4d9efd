import Foundation
import Settings
import Testing

/// `[message_batches]`: read from TOML, each key validated with an error that names it.
@Suite struct MessageBatchSettingsTests {
    @Test func theTableIsRead() throws {
        var settings = CervellaSettings()
        try settings.apply(
            toml: """
                [message_batches]
                enabled = true
                horizon_seconds = 7200
                max_batch_size = 500
                collect_seconds = 5
                poll_interval_seconds = 10
                rescue_seconds = 900
                """)
        #expect(settings.messageBatches.enabled)
        #expect(settings.messageBatches.horizonSeconds == 7200 && settings.messageBatches.maxBatchSize == 500)
        #expect(settings.messageBatches.collectSeconds == 5 && settings.messageBatches.pollIntervalSeconds == 10)
        #expect(settings.messageBatches.rescueSeconds == 900)
        try settings.validate()
    }

    @Test func anUnknownKeyIsRefused() {
        var settings = CervellaSettings()
        #expect(throws: SettingsError.self) { try settings.apply(toml: "[message_batches]\nhorizon = 10\n") }
    }

    @Test func eachBadValueNamesItsKey() {
        let cases: [(String, (inout CervellaSettings) -> Void)] = [
            ("message_batches.max_batch_size", { $0.messageBatches.maxBatchSize = 100_001 }),
            ("message_batches.max_batch_size", { $0.messageBatches.maxBatchSize = 0 }),
            ("message_batches.collect_seconds", { $0.messageBatches.collectSeconds = -1 }),
            ("message_batches.poll_interval_seconds", { $0.messageBatches.pollIntervalSeconds = 0 }),
            ("message_batches.rescue_seconds", { $0.messageBatches.rescueSeconds = .nan }),
            ("message_batches.horizon_seconds", { $0.messageBatches.horizonSeconds = .infinity }),
            ("message_batches.horizon_seconds", { $0.messageBatches.horizonSeconds = 100 }),
            (
                "message_batches.enabled",
                {
                    $0.messageBatches.enabled = true
                    $0.tiers[.claude]?.kind = .openai
                }
            ),
        ]
        for (key, change) in cases {
            var settings = CervellaSettings()
            change(&settings)
            let error = #expect(throws: SettingsError.self) { try settings.validate() }
            #expect(error?.key == key)
        }
    }
}
