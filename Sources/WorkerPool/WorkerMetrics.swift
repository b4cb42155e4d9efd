import ControlPlane
import Foundation
import JobProtocol
import Metrics
import Providers
import Settings
import Synchronization

/// The worker's Prometheus metrics, read off each committed job: one mapping from outcome to
/// series, so the figures cannot disagree with the results. Labels stay low-cardinality:
/// tier, model, queue, outcome, reason class, direction; never a job id or a prompt.
enum WorkerMetrics {
    static func observe(_ commit: JobCommit, queue: QueueName, settings: CervellaSettings) {
        switch commit.outcome {
        case .reply(let job, let result, _):
            let tier = result.metadata.flatMap { Tier($0.tier) } ?? queue.servingTier
            let model = result.metadata?.modelUsed ?? settings.tier(tier).model
            let outcome: String
            if !result.ok {
                outcome = result.error?.code == "cancelled" ? "cancelled" : "error"
            } else {
                outcome = result.metadata?.cacheHit == true ? "cache_hit" : (result.metadata?.fallback == true ? "fallback_answered" : "answered")
            }
            Counter(label: "cervella_requests_total", dimensions: [("tier", "\(tier)"), ("model", model), ("outcome", outcome)]).increment()
            guard let metadata = result.metadata else { return }
            Timer(label: "cervella_request_duration_seconds", dimensions: [("tier", "\(tier)")]).recordMilliseconds(metadata.latencyMs)
            Timer(label: "cervella_queue_wait_seconds", dimensions: [("queue", queue.rawValue)]).recordMilliseconds(metadata.queueMs)
            Counter(label: "cervella_cache_total", dimensions: [("result", metadata.cacheHit ? "hit" : "miss")]).increment()
            guard !metadata.cacheHit else { return }
            if let problem = metadata.structureProblem {
                Counter(label: "cervella_structure_problems_total", dimensions: [("tier", "\(tier)"), ("reason", HourlyStats.reasonClass(problem))])
                    .increment()
            }
            if let confidence = metadata.confidence {
                Recorder(label: "cervella_confidence", dimensions: [("tier", "\(tier)"), ("task_type", taskTypeLabel(job))], aggregate: true)
                    .record(confidence)
            }
            if tier.isSmall {
                gate(tier: tier.number, job: job, decision: "accepted")
            }
            Counter(label: "cervella_tokens_total", dimensions: [("model", model), ("direction", "input")]).increment(by: metadata.tokensInput)
            Counter(label: "cervella_tokens_total", dimensions: [("model", model), ("direction", "output")]).increment(by: metadata.tokensOutput)
            // The discarded small-model attempt was already counted under its own model.
            let ownCost = metadata.costUSD - (job.fallbackFrom?.costUSD ?? 0)
            FloatingPointCounter(label: "cervella_cost_usd_total", dimensions: [("model", model)]).increment(by: max(0, ownCost))
        case .fallback(let job):
            guard let origin = job.fallbackFrom else { return }
            let reason = HourlyStats.reasonClass(origin.reason)
            Counter(label: "cervella_requests_total", dimensions: [("tier", "\(origin.tier)"), ("model", origin.model), ("outcome", "fallback")])
                .increment()
            Counter(label: "cervella_fallbacks_total", dimensions: [("tier", "\(origin.tier)"), ("reason", reason)]).increment()
            gate(tier: origin.tier, job: job, decision: reason == "low_confidence" ? "low_confidence" : "other_fallback")
            if let confidence = origin.confidence {
                Recorder(label: "cervella_confidence", dimensions: [("tier", "\(origin.tier)"), ("task_type", taskTypeLabel(job))], aggregate: true)
                    .record(confidence)
            }
            FloatingPointCounter(label: "cervella_cost_usd_total", dimensions: [("model", origin.model)]).increment(by: origin.costUSD ?? 0)
        case .dead:
            Counter(
                label: "cervella_requests_total",
                dimensions: [("tier", "\(queue.servingTier)"), ("model", settings.tier(queue.servingTier).model), ("outcome", "dead")]
            ).increment()
        }
    }

    /// Task types seen as labels by this process: routing reasons are a short fixed list, but
    /// `metadata.task_type` tags come from users, so past `maxTaskTypeLabels` they read `other`.
    private static let taskTypeLabels = Mutex<Set<String>>([])
    static let maxTaskTypeLabels = 64

    static func taskTypeLabel(_ job: Job) -> String {
        let name = JobDecision.taskType(of: job)
        return taskTypeLabels.withLock { seen in
            if seen.contains(name) { return name }
            guard seen.count < maxTaskTypeLabels else { return "other" }
            seen.insert(name)
            return name
        }
    }

    /// The gate's decisions on small-model answers per task type: with the calibration's
    /// `cervella_fallback_target`, the fallback rate against its target (docs/ROUTING.md).
    static func gate(tier: Int, job: Job, decision: String) {
        Counter(label: "cervella_gate_decisions_total", dimensions: [("tier", "\(tier)"), ("task_type", taskTypeLabel(job)), ("decision", decision)])
            .increment()
    }

    /// Requests answered by an identical one's call (`cervella_coalesced_total`).
    static func coalesced(_ count: Int) {
        Counter(label: "cervella_coalesced_total").increment(by: count)
    }

    static func duplicate() {
        Counter(label: "cervella_duplicate_provider_calls_total").increment()
    }

    static func inFlight(_ count: Int) {
        Gauge(label: "cervella_in_flight_jobs").record(count)
    }

    static func queueDepth(_ queue: QueueName, _ depth: Int) {
        Gauge(label: "cervella_queue_depth", dimensions: [("queue", queue.rawValue)]).record(depth)
    }

    /// 1 for a closed circuit, 0.5 half-open, 0 open.
    static func endpoint(tier: Tier, _ status: EndpointStatus) {
        let value: Double =
            switch status.state {
            case .closed: 1
            case .halfOpen: 0.5
            case .open: 0
            }
        let host =
            URL(string: status.endpoint).map { url in url.host.map { host in url.port.map { "\(host):\($0)" } ?? host } ?? status.endpoint }
            ?? status.endpoint
        Gauge(label: "cervella_endpoint_up", dimensions: [("tier", "\(tier)"), ("endpoint", host)]).record(value)
    }
}

extension Timer {
    func recordMilliseconds(_ milliseconds: Int) {
        recordNanoseconds(Int64(max(0, milliseconds)) * 1_000_000)
    }
}
