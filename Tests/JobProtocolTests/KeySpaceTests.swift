import JobProtocol
import Testing

@Suite struct KeySpaceTests {
    @Test func defaultKeysMatchTheProtocolTable() {
        let keys = KeySpace()
        #expect(keys.prefix == "cervella")
        #expect(keys.queue(.tier1) == "cervella:queue:tier1")
        #expect(keys.queue(.tier2) == "cervella:queue:tier2")
        #expect(keys.queue(.tier3) == "cervella:queue:tier3")
        #expect(keys.queue(.fallback) == "cervella:queue:fallback")
        #expect(keys.processing(.tier1, worker: "host:42") == "cervella:processing:tier1:host:42")
        #expect(keys.worker("host:42") == "cervella:worker:host:42")
        #expect(keys.reply("j1") == "cervella:reply:j1")
        #expect(keys.cache("ab12") == "cervella:cache:ab12")
        #expect(keys.dead == "cervella:dead")
        #expect(keys.config == "cervella:config")
        #expect(keys.stats(hour: "2026011014") == "cervella:stats:2026011014")
    }

    @Test func everyKeyUsesACustomPrefix() {
        let keys = KeySpace(prefix: "test-7")
        let all = [
            keys.queue(.fallback), keys.processing(.tier3, worker: "w"), keys.worker("w"), keys.reply("j"),
            keys.cache("d"), keys.dead, keys.config, keys.stats(hour: "h"),
        ]
        #expect(all.allSatisfy { $0.hasPrefix("test-7:") })
        #expect(!all.contains { $0.contains("cervella") })
    }

    @Test(arguments: [
        ("cervella:reply:j1", true),
        ("cervella:reply:x", true),
        ("cervella:reply:", false),
        ("cervella:reply", false),
        ("cervella:queue:tier1", false),
        ("other:reply:j1", false),
        ("cervellax:reply:j1", false),
        ("CERVELLA:reply:j1", false),
        ("", false),
    ])
    func replyKeysAreRecognisedOnlyUnderThePrefix(key: String, isReply: Bool) {
        #expect(KeySpace().isReplyKey(key) == isReply)
    }

    @Test func replyKeyOfAShorterPrefixIsNotAReplyKeyOfALongerOne() {
        #expect(!KeySpace(prefix: "cerv").isReplyKey("cervella:reply:j1"))
        #expect(KeySpace(prefix: "cerv").isReplyKey("cerv:reply:j1"))
        #expect(!KeySpace(prefix: "cervella").isReplyKey("cerv:reply:j1"))
    }

    @Test func aGeneratedReplyKeyIsAlwaysRecognised() {
        for prefix in ["cervella", "t", "a:b", "test-9f1c"] {
            let keys = KeySpace(prefix: prefix)
            #expect(keys.isReplyKey(keys.reply("j")))
        }
    }

    @Test func queuesAreServedByTheirTierAndFallbackByClaude() {
        #expect(QueueName.tier1.servingTier == .tier1)
        #expect(QueueName.tier2.servingTier == .tier2)
        #expect(QueueName.tier3.servingTier == .tier3)
        #expect(QueueName.fallback.servingTier == .claude)
        #expect(QueueName.quarantine.servingTier == .claude)
    }

    @Test func tiersAreNumberedOneToThreeAndEachHasItsQueue() {
        #expect(Tier.allCases.map(\.queue) == [.tier1, .tier2, .tier3])
        #expect(Tier.allCases.map(\.number) == [1, 2, 3])
        #expect(Tier(0) == nil && Tier(4) == nil && Tier(-1) == nil)
        #expect(Tier(2) == .tier2)
        // Interpolated, a tier is its number: the stats fields and metric labels read `tier2`.
        #expect("tier\(Tier.tier2)" == "tier2")
        #expect(Tier.tier1.isSmall && Tier.tier2.isSmall && !Tier.claude.isSmall)
        #expect(Tier.tier1 < .tier2 && Tier.tier2 < .claude)
    }

    @Test func queueRawValuesAreTheKeySuffixes() {
        #expect(
            QueueName.allCases.map(\.rawValue) == [
                "tier1", "tier2", "tier3", "fallback", "quarantine", "tier1_bulk", "tier2_bulk", "tier3_bulk", "fallback_bulk",
            ])
        #expect(QueueName(rawValue: "fallback") == .fallback)
        #expect(QueueName(rawValue: "tier4") == nil)
    }

    @Test func workerConnectionNamesGiveBackTheWorkerID() {
        let keys = KeySpace(prefix: "staging")
        let name = keys.connectionName(worker: "gpu-host:4242/probation-1", role: "fetch-tier1")
        #expect(name == "staging/worker/fetch-tier1/gpu-host:4242/probation-1")
        #expect(keys.worker(fromConnectionName: Substring(name)) == "gpu-host:4242/probation-1")
        // Another deployment's workers, other clients, and half a name are nobody.
        #expect(KeySpace(prefix: "prod").worker(fromConnectionName: Substring(name)) == nil)
        #expect(keys.worker(fromConnectionName: "gateway@staging") == nil)
        #expect(keys.worker(fromConnectionName: "staging/worker/commands") == nil)
        #expect(keys.worker(fromConnectionName: "staging/worker/commands/") == nil)
    }

    @Test func processingAndDoneKeysAreReadBackOnlyFromThisDeployment() {
        let keys = KeySpace(prefix: "staging")
        let list = keys.processing(.tier2, worker: "gpu-host:4242/probation-1")
        #expect(keys.processingList(fromKey: list)?.queue == .tier2)
        #expect(keys.processingList(fromKey: list)?.worker == "gpu-host:4242/probation-1")
        #expect(keys.processingList(fromKey: keys.processing(.quarantine, worker: "w"))?.queue == .quarantine)
        // A bulk lane's list goes back to the bulk lane.
        #expect(keys.processingList(fromKey: keys.processing(.tier1Bulk, worker: "h:1"))?.queue == .tier1Bulk)
        #expect(keys.queue(.tier2Bulk) == "staging:queue:tier2_bulk")
        #expect(KeySpace(prefix: "prod").processingList(fromKey: list) == nil)
        #expect(keys.processingList(fromKey: "staging:processing:tier9:w") == nil)
        #expect(keys.processingList(fromKey: "staging:processing:tier1:") == nil)
        #expect(keys.processingList(fromKey: "staging:processing:tier1") == nil)
        #expect(keys.jobID(fromDoneKey: keys.done("job:7")) == "job:7")
        #expect(keys.jobID(fromDoneKey: "staging:done:") == nil)
        #expect(KeySpace(prefix: "prod").jobID(fromDoneKey: keys.done("j")) == nil)
    }
}

@Suite struct LaneNameTests {
    @Test func everyWorkQueueHasABulkLaneServedByTheSameTier() {
        for queue in QueueName.workQueues {
            let bulk = try? #require(queue.bulkLane)
            #expect(bulk?.isBulk == true)
            #expect(bulk?.servingTier == queue.servingTier)
            #expect(bulk?.isFallback == queue.isFallback)
            #expect(queue.lane(.bulk) == bulk && queue.lane(.interactive) == queue)
        }
        #expect(QueueName.quarantine.bulkLane == nil)
    }

    @Test func aRecoveredBulkJobRunsAsItsLane() {
        var job = Job(
            id: "j", replyTo: "cervella:reply:j", createdAt: 1_767_225_600, deadlineAt: nil, messages: [ChatMessage(role: "user", content: "x")])
        job.route = Route(tier: 2, model: "m", reason: "r")
        job.priority = .bulk
        #expect(job.originQueue == .tier2Bulk)
        job.recoveries = [Recovery(worker: "w", at: 1_767_225_601, queue: "tier1_bulk")]
        #expect(job.originQueue == .tier1Bulk)
    }
}
