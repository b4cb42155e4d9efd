internal import CCurl
import Logging

/// The body of the client's single network thread: it owns every libcurl handle.
///
/// One thread drives all transfers with `curl_multi_poll`, so hundreds of requests in
/// flight cost sockets, not threads, and never block Swift's cooperative pool (two
/// threads on a two-core machine). Each iteration takes the inbox's batch, starts new
/// transfers, removes cancelled ones, lets libcurl make progress, delivers finished
/// transfers, then sleeps until a socket is ready, a libcurl timer fires, or a caller
/// calls `curl_multi_wakeup`.
final class TransferLoop {
    private let multi: MultiHandle
    private let inbox: TransferInbox
    private let connectTimeout: Duration
    private let logger: Logger
    /// Transfers inside the multi handle, by easy handle (what `curl_multi_info_read` gives).
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    /// Reset easy handles ready for the next request.
    private var idleHandles: [EasyHandle] = []
    /// Enough idle handles for a typical burst; more are created (and freed) on demand.
    private static let maxIdleHandles = 64
    /// A safety net only: wake-ups and libcurl's own timers normally end the poll sooner.
    private static let pollTimeoutMilliseconds: Int32 = 1000

    init(multi: MultiHandle, inbox: TransferInbox, connectTimeout: Duration, logger: Logger) {
        self.multi = multi
        self.inbox = inbox
        self.connectTimeout = connectTimeout
        self.logger = logger
    }

    /// Runs until the inbox is shut down, then fails whatever is left with `.shutdown`.
    func run() {
        logger.debug("HTTP client loop started")
        while true {
            let batch = inbox.takeBatch()
            if batch.isShutdown {
                stop(unstarted: batch.submissions)
                return
            }
            // Starts before cancellations: a cancellation may refer to a transfer in the
            // same batch (`start` skips it then, because it is marked cancelled).
            for pending in batch.submissions {
                start(pending)
            }
            for pending in batch.cancellations {
                abandon(pending)
            }
            multi.perform()
            while let completion = multi.nextCompletion() {
                complete(easy: completion.easy, result: completion.result)
            }
            multi.poll(timeoutMilliseconds: Self.pollTimeoutMilliseconds)
        }
    }

    private func start(_ pending: PendingTransfer) {
        guard !pending.isCancelled else { return }
        let easy: EasyHandle
        if let idle = idleHandles.popLast() {
            easy = idle
        } else {
            do {
                easy = try EasyHandle()
            } catch {
                pending.finish(.failure(error))
                return
            }
        }
        let transfer = Transfer(pending: pending, easy: easy)
        do {
            try transfer.configure(connectTimeout: connectTimeout)
            try multi.add(easy)
        } catch {
            recycle(transfer)
            pending.finish(.failure(error))
            return
        }
        active[easy.raw] = transfer
    }

    /// Removes a cancelled transfer so its connection and connection slot are released at
    /// once; the caller was already resumed with `.cancelled`.
    private func abandon(_ pending: PendingTransfer) {
        guard let entry = active.first(where: { $0.value.pending === pending }) else { return }
        active[entry.key] = nil
        multi.remove(entry.value.easy)
        recycle(entry.value)
        logger.trace("HTTP transfer cancelled", metadata: ["http.host": "\(pending.host)"])
    }

    private func complete(easy: UnsafeMutableRawPointer, result code: CURLcode) {
        guard let transfer = active.removeValue(forKey: easy) else { return }
        multi.remove(transfer.easy)
        let result = transfer.result(for: code)
        recycle(transfer)
        switch result {
        case .success(let response):
            logger.trace(
                "HTTP transfer finished",
                metadata: ["http.host": "\(transfer.pending.host)", "http.status": "\(response.status)"]
            )
        case .failure(let error):
            logger.debug("HTTP transfer failed", metadata: ["error": "\(error)"])
        }
        transfer.pending.finish(result)
    }

    /// Returns the easy handle to the pool, cleared so it points at nothing freed.
    private func recycle(_ transfer: Transfer) {
        transfer.release()
        guard idleHandles.count < Self.maxIdleHandles, (try? transfer.easy.reset()) != nil else { return }
        idleHandles.append(transfer.easy)
    }

    private func stop(unstarted: [PendingTransfer]) {
        logger.debug(
            "HTTP client loop stopping",
            metadata: ["http.failed_pending": "\(active.count + unstarted.count)"]
        )
        for transfer in active.values {
            multi.remove(transfer.easy)
            transfer.release()
            transfer.pending.finish(.failure(.shutdown(host: transfer.pending.host)))
        }
        active.removeAll()
        idleHandles.removeAll()
        for pending in unstarted {
            pending.finish(.failure(.shutdown(host: pending.host)))
        }
    }
}
