import ControlPlane
import Foundation
import Testing

/// `ScaleSignal.decide`: the arithmetic of report 5.4's auto-scale signal, from counters.
@Suite struct ScaleSignalDecisionTests {
    /// One 10 s slot: `answers` tier-1 answers in the bucket bounded by `bucket` ms, `taken` jobs.
    func slot(answers: Double, bucket: Int, taken: Double = 0) -> [String: Double] {
        ["answered:tier1": answers, "latency_le_\(bucket):tier1": answers, "requests:tier1": taken]
    }

    func decide(
        _ slots: [[String: Double]], backlog: Int = 0, deadlineIn: Double? = nil, oldestWaited: Double = 30, workers: Int = 2, gpuHosts: Int = 1
    ) -> ScaleSignal {
        ScaleSignal.decide(
            slots: slots, windowSlots: 3, thresholdMs: 2000, backlog: backlog, newestDeadline: deadlineIn.map { 1000 + $0 },
            oldestCreated: 1000 - oldestWaited, now: 1000, workers: workers, gpuHosts: gpuHosts)
    }

    @Test func latencyOverTheLimitInEverySlotOfTheWindowAsksForCapacity() {
        let signal = decide(Array(repeating: slot(answers: 20, bucket: 5000), count: 3))
        #expect(signal.wanted)
        #expect(signal.reasons == ["latency"])
        #expect(signal.p95Ms == 5000)
        // 5000 / 2000: two and a half times the capacity, rounded up.
        #expect(signal.neededGPUHosts == 3)
        #expect(signal.neededWorkers == 5)
    }

    @Test func oneSlotUnderTheLimitOrWithoutAnswersKeepsItQuiet() {
        #expect(!decide([slot(answers: 20, bucket: 5000), slot(answers: 20, bucket: 1000), slot(answers: 20, bucket: 5000)]).wanted)
        #expect(!decide([slot(answers: 20, bucket: 5000), [:], slot(answers: 20, bucket: 5000)]).wanted)
        // A window not yet covered (a pool that just started) decides nothing.
        #expect(!decide([slot(answers: 20, bucket: 5000), slot(answers: 20, bucket: 5000)]).wanted)
        let quiet = decide(Array(repeating: slot(answers: 20, bucket: 1000), count: 3))
        #expect(!quiet.wanted)
        #expect(quiet.neededGPUHosts == 1)
        #expect(quiet.neededWorkers == 2)
    }

    @Test func aP95PastTheLastBucketCountsAsOverAndIsReportedSo() {
        let signal = decide(Array(repeating: ["answered:tier1": 10, "latency_le_inf:tier1": 10], count: 3))
        #expect(signal.wanted)
        #expect(signal.p95Beyond)
        #expect(signal.json(at: Date(), since: nil, notifiedAt: nil)["p95_ms"] as? String == ">10000")
    }

    @Test func aBacklogThatOutlastsTheNewestDeadlineAsksForCapacity() {
        // 60 jobs taken in the last 30 s: 2 a second. 100 queued need 50 s; the newest has 20 s.
        let busy = Array(repeating: slot(answers: 20, bucket: 1000, taken: 20), count: 3)
        let signal = decide(busy, backlog: 100, deadlineIn: 20)
        #expect(signal.reasons == ["backlog"])
        #expect(signal.drainPerSecond == 2)
        #expect(signal.neededWorkers == 5)  // 50 s of work in 20 s: 2.5 times the workers
        // The same queue with a minute to go drains in time.
        #expect(!decide(busy, backlog: 100, deadlineIn: 60).wanted)
        // Nothing drains: any backlog misses its deadline.
        #expect(decide(Array(repeating: [:], count: 3), backlog: 1, deadlineIn: 300).reasons == ["backlog"])
        // Jobs that pass through in moments are no backlog, even before anything was drained
        // (a burst into idle workers).
        #expect(!decide(Array(repeating: [:], count: 3), backlog: 3, deadlineIn: 20, oldestWaited: 0.5).wanted)
        // An empty queue, or one whose newest job has no readable deadline, asks for nothing.
        #expect(!decide([[:], [:], [:]], backlog: 0, deadlineIn: 1).wanted)
        #expect(!decide([[:], [:], [:]], backlog: 5, deadlineIn: nil).wanted)
    }

    @Test func estimatesAreBoundedWhateverTheCountersSay() {
        let hostile = decide(
            Array(repeating: ["answered:tier1": 1e300, "latency_le_inf:tier1": 1e300, "requests:tier1": -1e300], count: 3), backlog: .max,
            deadlineIn: -1e300, workers: .max, gpuHosts: 10_000)
        #expect(hostile.wanted)
        // Counts past 100,000 are read as 100,000; the p95 past the last bucket as 20 s: ten times.
        #expect(hostile.neededWorkers == 1_000_000)
        #expect(hostile.neededGPUHosts == 100_000)
    }
}
