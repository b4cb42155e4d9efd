import Foundation
import Hummingbird
import JobProtocol
import Logging
import NIOCore
import Producer
import RedisClient

extension GatewayServer {
    static let jobIDHeader = HTTPFields.Element.Name("x-cervella-job-id")!
    /// How often a quiet stream sends a keep-alive: the longest a client's departure goes
    /// unnoticed (its job is cancelled when a write fails).
    static let keepAliveInterval: Duration = .seconds(1)

    /// Enqueues a streamed job and answers with its stream (`text/event-stream`).
    ///
    /// The response starts once the job's first entry arrives, so that a job that fails at once
    /// (its model unknown, the queue full) is an ordinary HTTP error. After that, a failure is
    /// an error event, and a client that leaves cancels its job. The job belongs to the
    /// caller's key, like an async job: that key may resume the stream
    /// (`GET /api/jobs/{id}/stream`) or cancel it (`DELETE /api/jobs/{id}`).
    func streamed<Encoder: StreamEncoder & Sendable>(
        _ job: Job, encoder: Encoder, endpoint: String, context: GatewayRequestContext
    ) async throws -> Response {
        let subscription = hub.subscribe(jobID: job.id)
        let enqueued: Producer.Enqueued
        do {
            let producer = self.producer, commands = self.commands, keys = self.keys
            let maxQueueLength = settings.gateway.maxQueueLength
            let owner = Self.owner(context), ttl = ownershipTTL(job)
            async let marked: RedisValue = withRedisDeadline {
                try await commands.send("SET", RedisArgument(keys.accepted(job.id)), RedisArgument(owner), "EX", RedisArgument(ttl))
            }
            enqueued = try await withRedisDeadline { try await producer.enqueue(job, maxQueueLength: maxQueueLength) }
            _ = try await marked
        } catch {
            hub.unsubscribe(subscription.token)
            throw error
        }
        switch enqueued {
        case .queued:
            return try await relay(job, subscription: subscription, encoder: encoder, endpoint: endpoint, cancelOnDisconnect: true)
        case .cached(let result):
            hub.unsubscribe(subscription.token)
            logRequest(job, result: result, endpoint: endpoint, status: 200)
            var forwarder = StreamForwarder(encoder: encoder)
            return Self.eventStream(job.id, body: forwarder.end(result, entryID: "0-1"))
        case .full:
            hub.unsubscribe(subscription.token)
            logRequest(job, result: nil, endpoint: endpoint, status: 503)
            throw Self.queueFull
        }
    }

    /// `GET /api/jobs/{id}/stream`: a streamed job's events (`/api/chat`'s shape) from the start,
    /// or after the entry named by `Last-Event-ID`, for the key that created the job. Leaving
    /// does not cancel the job: the reader was not the one who asked for it.
    func resumeStream(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let id = try ownedJobID(context)
        let after = request.headers[Self.lastEventID] ?? "0"
        guard StreamEntry.isEntryID(after) else {
            throw Self.invalid("Last-Event-ID must be a stream entry id such as 1735000000000-0, as the events' id lines carry")
        }
        guard try await isOwned(id, context: context) else { throw Self.jobNotFound(id) }
        let commands = self.commands, keys = self.keys
        let exists = try await withRedisDeadline { try await commands.send("EXISTS", RedisArgument(keys.stream(id))) }
        guard exists.integer == 1 else {
            throw Refusal(
                response: GatewayResponse.error(
                    .notFound, code: "stream_not_found", message: "job \(id) has no stream: it was not streamed, or its stream expired"))
        }
        let deadline = Job(id: id, replyTo: keys.reply(id), createdAt: Date().timeIntervalSince1970, deadlineAt: nil, messages: [])
        let subscription = hub.subscribe(jobID: id, after: after)
        return try await relay(
            deadline, subscription: subscription, encoder: ChatEventEncoder(id: id), endpoint: "/api/jobs/{id}/stream", cancelOnDisconnect: false)
    }

    /// `DELETE /api/jobs/{id}`: cancels a job of the caller's key (202), whether queued or
    /// running; 409 when it has already finished.
    func cancelJob(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let id = try ownedJobID(context)
        guard try await isOwned(id, context: context) else { throw Self.jobNotFound(id) }
        let commands = self.commands, keys = self.keys, producer = self.producer
        let done = try await withRedisDeadline { try await commands.send("EXISTS", RedisArgument(keys.done(id))) }
        if done.integer == 1 {
            return GatewayResponse.error(.conflict, code: "job_finished", message: "job \(id) has already finished; there is nothing to cancel")
        }
        try await withRedisDeadline { try await producer.cancel(id) }
        logger.info("job cancelled by its client", metadata: ["cervella.request.id": "\(id)", "cervella.endpoint": "DELETE /api/jobs/{id}"])
        return GatewayResponse.json(["id": id, "status": "cancelling"], status: .accepted)
    }

    static let lastEventID = HTTPFields.Element.Name("last-event-id")!

    /// Relays a job's stream entries to the client, from its first entry on.
    private func relay<Encoder: StreamEncoder & Sendable>(
        _ job: Job, subscription: (token: Int, entries: AsyncStream<StreamEntry>), encoder: Encoder, endpoint: String,
        cancelOnDisconnect: Bool
    ) async throws -> Response {
        let hub = self.hub
        // One queue of entries and ticks, so the writer can wait for either.
        let (events, sink) = AsyncStream.makeStream(of: RelayEvent.self)
        let feeder = Task {
            for await entry in subscription.entries { sink.yield(.entry(entry)) }
            sink.yield(.closed)
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.keepAliveInterval)
                sink.yield(.tick)
            }
        }
        let stop: @Sendable () -> Void = {
            hub.unsubscribe(subscription.token)
            feeder.cancel()
            ticker.cancel()
            sink.finish()
        }
        // Deadlines are at most a day away (validated); the grace covers the worker's commit.
        let deadline =
            ContinuousClock.now
            + .seconds(min(86_402, max(1, (job.deadlineAt ?? Date().timeIntervalSince1970 + 600) - Date().timeIntervalSince1970 + 2)))
        var iterator = events.makeAsyncIterator()
        var first: StreamEntry?
        while first == nil {
            switch await iterator.next() {
            case .entry(let entry)?: first = entry
            case .tick? where ContinuousClock.now < deadline: continue
            default:
                stop()
                if cancelOnDisconnect { try? await producer.cancel(job.id) }
                logRequest(job, result: nil, endpoint: endpoint, status: 504)
                throw Refusal(
                    response: GatewayResponse.error(
                        .gatewayTimeout, code: "deadline_exceeded", message: "no answer began before the job's deadline; the job id is \(job.id)"))
            }
        }
        var forwarder = StreamForwarder(encoder: encoder)
        if case .end(let result) = first!.kind, !result.ok {
            stop()
            logRequest(job, result: result, endpoint: endpoint, status: Int(JobErrorTable.response(for: result).status.code))
            throw Refusal(response: JobErrorTable.response(for: result))
        }
        let opening = forwarder.handle(first!)
        let server = self, prepared = forwarder
        let body = ResponseBody { writer in
            var forwarder = prepared
            // The same stream, read on from where the first entry was taken.
            var iterator = events.makeAsyncIterator()
            var done = opening.done
            do {
                try await writer.write(ByteBuffer(bytes: opening.bytes))
                var quietSince = ContinuousClock.now
                while !done {
                    guard let event = await iterator.next() else { break }
                    var bytes: [UInt8] = []
                    switch event {
                    case .entry(let entry):
                        let step = forwarder.handle(entry)
                        bytes = step.bytes
                        done = step.done
                    case .tick:
                        if ContinuousClock.now >= deadline {
                            bytes = forwarder.failure(
                                .gatewayTimeout, code: "deadline_exceeded", message: "the answer did not end before the job's deadline")
                            done = true
                        } else if ContinuousClock.now - quietSince >= Self.keepAliveInterval {
                            bytes = forwarder.encoder.keepAlive()
                        }
                    case .closed:
                        bytes = forwarder.failure(.badGateway, code: "stream_closed", message: "the gateway stopped reading the job's stream")
                        done = true
                    }
                    if !bytes.isEmpty {
                        try await writer.write(ByteBuffer(bytes: bytes))
                        quietSince = ContinuousClock.now
                    }
                }
                stop()
                try await writer.finish(nil)
            } catch {
                // The client left: its job is not wanted any more.
                stop()
                if cancelOnDisconnect && forwarder.result == nil {
                    try? await server.producer.cancel(job.id)
                    server.logger.info(
                        "client left a stream; job cancelled", metadata: ["cervella.request.id": "\(job.id)", "cervella.endpoint": "\(endpoint)"])
                }
                throw error
            }
            let result = forwarder.result
            server.logRequest(
                job, result: result, endpoint: endpoint,
                status: result.map { $0.ok ? 200 : Int(JobErrorTable.response(for: $0).status.code) } ?? 504)
        }
        return Response(status: .ok, headers: Self.eventStreamHeaders(job.id), body: body)
    }

    enum RelayEvent: Sendable {
        case entry(StreamEntry)
        case tick
        case closed
    }

    static func eventStreamHeaders(_ jobID: String) -> HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[jobIDHeader] = jobID
        return headers
    }

    static func eventStream(_ jobID: String, body: [UInt8]) -> Response {
        Response(status: .ok, headers: eventStreamHeaders(jobID), body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The owner recorded for a job the caller creates: its key's digest, `1` without keys.
    static func owner(_ context: GatewayRequestContext) -> String {
        switch context.caller {
        case .user(let digest): return digest
        case .anonymous, .admin: return "1"
        }
    }

    /// How long a streamed job's owner is remembered: until its result could have expired.
    func ownershipTTL(_ job: Job) -> Int {
        let remaining = (job.deadlineAt ?? Date().timeIntervalSince1970) - Date().timeIntervalSince1970
        return Int(saturating: min(86_400, max(0, remaining))) + settings.redis.replyTTLSeconds + 60
    }

    func ownedJobID(_ context: GatewayRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard !id.isEmpty, id.utf8.count <= JobLimits.maxIDLength, !id.contains(":") else { throw Self.invalid("invalid job id") }
        return id
    }

    /// Whether the caller may see or cancel job `id`: its key created it (the admin key, and
    /// loopback clients of a gateway without keys, may act on every job).
    func isOwned(_ id: String, context: GatewayRequestContext) async throws -> Bool {
        let commands = self.commands, keys = self.keys
        let owner = try await withRedisDeadline { try await commands.send("GET", RedisArgument(keys.accepted(id))) }.string
        switch context.caller {
        case .anonymous, .admin: return true
        case .user(let digest): return owner.map { Authenticator.constantTimeEquals($0, digest) } ?? false
        }
    }

    /// 503 `queue_full` with `Retry-After`: the tier's queue is at `gateway.max_queue_length`.
    static var queueFull: Refusal {
        let entry = JobErrorTable.entry(for: "queue_full")
        return Refusal(
            response: GatewayResponse.error(entry.status, code: "queue_full", message: entry.message, headers: [GatewayResponse.retryAfter: "1"]))
    }

    static func jobNotFound(_ id: String) -> Refusal {
        Refusal(response: GatewayResponse.error(.notFound, code: "job_not_found", message: "no job \(id): unknown, or its result expired"))
    }
}
