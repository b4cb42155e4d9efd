import Dispatch
import Foundation
import Logging

/// An async HTTP client on libcurl's multi interface, with one network thread per client.
///
/// Every request of a client shares one libcurl multi handle, so connections (and HTTP/2
/// streams) are reused across requests, and one thread owned by the client drives all
/// transfers. Blocking libcurl calls therefore never run on Swift's cooperative pool.
/// Create one client per process (or per provider) and share it; call `shutdown()` when
/// done, or let `deinit` do it.
public final class HTTPClient: Sendable {
    private let multi: MultiHandle
    private let inbox: TransferInbox
    /// Left by the loop thread when it exits, so `shutdown()` can wait for it.
    private let loopFinished: DispatchGroup
    private let logger: Logger

    /// Starts the client's network thread.
    ///
    /// Throws when libcurl cannot be initialised (missing TLS library, out of memory) or
    /// the configuration is invalid.
    public init(
        configuration: Configuration = .init(),
        logger: Logger = Logger(label: "cervella.http")
    ) throws(HTTPClientError) {
        try configuration.validate()
        try CurlGlobal.initialize()
        let multi = try MultiHandle(configuration: configuration)
        let inbox = TransferInbox()
        let loopFinished = DispatchGroup()
        self.multi = multi
        self.inbox = inbox
        self.loopFinished = loopFinished
        self.logger = logger

        let connectTimeout = configuration.connectTimeout
        loopFinished.enter()
        let thread = Thread {
            TransferLoop(multi: multi, inbox: inbox, connectTimeout: connectTimeout, logger: logger).run()
            loopFinished.leave()
        }
        thread.name = "cervella.http"
        thread.start()
    }

    deinit {
        shutdown()
    }

    /// Sends `request` and returns the complete response, whatever its status.
    ///
    /// Throws `HTTPClientError` when no response arrived: `.timeout`, `.connection`,
    /// `.tls`, `.invalidRequest`, `.cancelled` (the task was cancelled; the transfer is
    /// removed at once), `.shutdown` or `.other`. A 4xx or 5xx status is not an error.
    public func execute(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        try await execute(request, streamingTo: nil)
    }

    /// Sends `request` and hands a 2xx response's body to `body` as it arrives (server-sent
    /// events); returns when the transfer has ended, with an empty body for a 2xx (other
    /// statuses keep their whole body, to read the error). Read `body` from another task while
    /// this call runs; cancelling this call's task aborts the transfer and ends the stream.
    public func execute(_ request: HTTPRequest, streamingTo body: BodyStream?) async throws(HTTPClientError) -> HTTPResponse {
        try request.validate()
        let pending = PendingTransfer(request: request, bodyStream: body)
        let inbox = inbox
        let multi = multi
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard pending.install(continuation) else {
                    continuation.resume(returning: .failure(.cancelled(host: pending.host)))
                    return
                }
                if inbox.submit(pending) {
                    multi.wakeup()
                } else {
                    pending.finish(.failure(.shutdown(host: pending.host)))
                }
            }
        } onCancel: {
            if pending.cancel() {
                inbox.cancel(pending)
                multi.wakeup()
            }
        }
        return try result.get()
    }

    /// Stops the network thread and fails every pending request with `.shutdown`.
    ///
    /// Returns once the thread has finished, so that no request is left unanswered; this
    /// takes one loop iteration (milliseconds). Later `execute` calls fail with `.shutdown`.
    /// Safe to call more than once and from several threads.
    public func shutdown() {
        if inbox.shutdown() {
            logger.debug("HTTP client shutting down")
            multi.wakeup()
        }
        loopFinished.wait()
    }
}
