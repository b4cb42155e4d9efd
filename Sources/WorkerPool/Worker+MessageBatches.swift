import Foundation
import JobProtocol
import Logging
import Providers
import RedisClient

extension Worker {
    /// Parks a bulk fallback that can wait for a Claude Message Batch: true when the job left
    /// this worker (parked, or no longer in its processing list), false when it is to be
    /// answered here as usual.
    ///
    /// A job qualifies when Message Batches are on, it was fetched from `fallback_bulk`, it is
    /// not streamed, not cancelled, and its deadline is more than `message_batches.horizon_seconds`
    /// away (or it has none). The move off the processing list and onto `mbatch:pending` is one
    /// script: a crash leaves the job in one of the two. No provider is called here.
    func parkForMessageBatch(_ job: Job, fetched: FetchedJob, logger: Logger) async -> Bool {
        let batches = settings.messageBatches
        guard batches.enabled, role == .worker, fetched.queue == .fallbackBulk, !job.stream, !cancels.wasHeard(Self.cancelIDs(job)) else {
            return false
        }
        let now = Date().timeIntervalSince1970
        if let deadline = job.deadlineAt, deadline - now <= batches.horizonSeconds { return false }
        do {
            let moved = try await commands.evaluate(
                MessageBatchScripts.park,
                keys: [
                    RedisArgument(keys.processing(fetched.queue, worker: id)), RedisArgument(keys.messageBatchPending),
                    RedisArgument(keys.messageBatchPendingSince),
                ],
                arguments: [RedisArgument(bytes: fetched.payload), RedisArgument(String(format: "%.3f", now))], replicated: true)
            logger.debug("bulk fallback parked for a Message Batch", metadata: ["cervella.parked": "\(moved.integer == 1)"])
            return true
        } catch {
            logger.notice("cannot park a bulk fallback for a Message Batch; answering it now", metadata: ["cervella.error": "\(error)"])
            return false
        }
    }

    /// The batcher this worker runs, when Message Batches are on and tier 3 is Anthropic's.
    func messageBatcher() -> MessageBatcher? {
        let claude = settings.tier(.claude)
        guard settings.messageBatches.enabled, role == .worker, claude.kind == .anthropic else { return nil }
        return MessageBatcher(writer: writer, client: MessageBatchClient(settings: claude, http: http), model: claude.model) {
            self.live.current
        }
    }
}
