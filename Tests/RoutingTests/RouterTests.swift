import JobProtocol
import Routing
import Settings
import Testing

@Suite struct RouterTests {
    static let settings = CervellaSettings()

    static func router(pocValidated: Bool = true) -> Router {
        Router(settings: settings, classifier: RuleClassifier(settings: settings.routing, pocValidated: { pocValidated }))
    }

    static let allOn = RoutingFlags(
        tierEnabled: [.tier1: true, .tier2: true, .tier3: true], tier1Percentage: 100, tier2Percentage: 100, pocValidated: true)

    func route(
        _ text: String, hint: String = "auto", force: String? = nil, flags: RoutingFlags = allOn, id: String = "job-1", router: Router = router()
    ) throws -> Route {
        try router.route(jobID: id, messages: [ChatMessage(role: "user", content: text)], tierHint: hint, forceModel: force, flags: flags)
    }

    @Test(arguments: [
        // The report's own examples.
        ("Leggi PROMPT_RIPRESA.md e fai summary", 1, "simple_task_pattern_matched"),
        ("Design new microservices architecture for X", 3, "complex_keywords_detected"),
        ("git commit -m per il fix del parser", 1, "simple_task_pattern_matched"),
        ("Traduci in inglese: buongiorno", 1, "simple_task_pattern_matched"),
        ("Formatta questo JSON", 1, "simple_task_pattern_matched"),
        ("Summary di questa riunione", 1, "simple_task_pattern_matched"),
        ("Definisci la strategia di prezzo", 3, "complex_keywords_detected"),
        ("Plan the database migration to Postgres", 3, "complex_keywords_detected"),
        ("Review the security of our login flow", 3, "complex_keywords_detected"),
        // English equivalents of the simple patterns.
        ("Read NOTES.md and list the open points", 1, "simple_task_pattern_matched"),
        ("Summarize this thread", 1, "simple_task_pattern_matched"),
        ("Translate to French: good morning", 1, "simple_task_pattern_matched"),
        // Nothing matches: the default tier.
        ("What is a good name for a cat?", 1, "default_tier"),
    ])
    func classifierRulesGiveTheirTierAndReason(text: String, tier: Int, reason: String) throws {
        let route = try route(text)
        #expect(route.tier == tier)
        #expect(route.reason == reason)
        #expect(route.model == Self.settings.tier(try #require(Tier(tier))).model)
    }

    @Test func complexKeywordsWinOverSimplePatterns() throws {
        // Rule 3 comes before rule 4, as in the report.
        #expect(try route("Summarize the security architecture").reason == "complex_keywords_detected")
    }

    @Test func longContextGoesToClaude() throws {
        let context = String(repeating: "Il sistema di code usa Redis per la consegna dei job. ", count: 3_300)  // ≈ 45K tokens
        #expect(TokenEstimator.estimate(context) > 40_000)
        let route = try route("Leggi NOTE.md e fai summary\n" + context)
        #expect(route.tier == 3)
        #expect(route.reason == "long_context_exceeds_qwen3_limit")
        // Just under the limit stays with the rules.
        let short = String(repeating: "a", count: 4 * 30_000)
        #expect(try self.route("Summarize " + short).reason == "simple_task_pattern_matched")
    }

    @Test func imagesGoToClaude() throws {
        let message = ChatMessage(
            role: "user",
            content: .parts([
                .object(["type": .string("text"), "text": .string("Summarize this chart")]),
                .object(["type": .string("image_url"), "image_url": .object(["url": .string("https://example.com/chart.png")])]),
            ]))
        let route = try Self.router().route(jobID: "x", messages: [message], tierHint: "auto", forceModel: nil, flags: Self.allOn)
        #expect(route.tier == 3)
        #expect(route.reason == "multimodal_required")
    }

    @Test func defaultTierIsClaudeUntilThePOCIsValidated() throws {
        let route = try route("What is a good name for a cat?", router: Self.router(pocValidated: false))
        #expect(route.tier == 3)
        #expect(route.reason == "default_tier")
        // Rules still apply before the default.
        #expect(try self.route("Summarize this", router: Self.router(pocValidated: false)).tier == 1)
    }

    @Test func overridesComeInTheirOrder() throws {
        #expect(try route("Design the architecture", force: "qwen3-4b") == Route(tier: 1, model: "qwen3-4b", reason: "manual_override"))
        #expect(try route("Summarize this", force: "claude-sonnet-4.5").tier == 3)
        #expect(try route("Summarize this", hint: "complex") == Route(tier: 3, model: "claude-sonnet-4-5", reason: "tier_hint_complex"))
        #expect(try route("Design the architecture", hint: "simple").reason == "tier_hint_simple")
        #expect(try route("Anything", hint: "medium").tier == 2)
        // force_model beats tier_hint.
        #expect(try route("Anything", hint: "complex", force: "qwen3-4b").reason == "manual_override")
        #expect(throws: Router.UnknownModel.self) { try route("Anything", force: "gpt-9") }
    }

    @Test func disabledTiersEscalateWithTheReasonSaying() throws {
        var flags = Self.allOn
        flags.tierEnabled[.tier1] = false
        let route = try route("Summarize this", flags: flags)
        #expect(route.tier == 2)
        #expect(route.reason == "simple_task_pattern_matched_tier1_disabled")
        flags.tierEnabled[.tier2] = false
        #expect(try self.route("Summarize this", flags: flags).tier == 3)
        #expect(
            try self.route("Anything", hint: "medium", flags: flags)
                == Route(tier: 3, model: "claude-sonnet-4-5", reason: "tier_hint_medium_tier2_disabled"))
        #expect(try self.route("Anything", force: "qwen3-4b", flags: flags).reason == "manual_override_tier1_disabled")
    }

    @Test func rolloutShareLandsWithinTwoPointsAndIsStickyPerID() throws {
        var flags = Self.allOn
        flags.tier1Percentage = 40
        var onTier1 = 0
        for index in 0..<10_000 {
            let id = "job-\(index)"
            let route = try route("Summarize item", flags: flags, id: id)
            if route.tier == 1 { onTier1 += 1 } else { #expect(route.reason == "rollout_control_group") }
            if index < 200 { #expect(try self.route("Summarize item", flags: flags, id: id) == route) }
        }
        #expect(abs(Double(onTier1) / 100 - 40) <= 2, "tier 1 got \(onTier1) of 10000")
        // Explicit choices are not part of the experiment.
        flags.tier1Percentage = 0
        #expect(try route("Anything", hint: "simple", flags: flags).tier == 1)
        #expect(try route("Summarize item", flags: flags).reason == "rollout_control_group")
    }

    @Test func phasesArePresetsOfTheRollout() throws {
        var settings = CervellaSettings()
        try settings.apply(toml: "[routing]\nphase = \"mvp\"\n")
        #expect(settings.routing.tier1Percentage == 40)
        #expect(settings.tier(.tier2).enabled == false)
        try settings.apply(toml: "[routing]\nphase = \"poc\"\n")
        #expect(settings.routing.pocValidated == false)
        #expect(settings.routing.tier1Percentage == 0)
        try settings.apply(toml: "[routing]\nphase = \"optimised\"\ntier1_percentage = 75\n")
        #expect(settings.routing.tier1Percentage == 75)
        #expect(settings.tier(.tier2).enabled)
        #expect(throws: SettingsError.self) { try settings.apply(toml: "[routing]\nphase = \"beta\"\n") }
    }
}
