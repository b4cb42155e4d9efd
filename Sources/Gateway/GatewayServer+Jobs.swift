import Foundation
import Hummingbird
import JobProtocol
import Producer
import RedisClient

extension GatewayServer {
    /// `POST /api/jobs`: enqueue and answer 202 with the id, for batch and orchestration callers.
    ///
    /// The job belongs to the key that sent it: its accepted marker holds the key's digest
    /// (`"1"` on a gateway without keys), and `GET /api/jobs/{id}` shows it to that key only.
    func submitJob(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let body = try decode(AsyncJobRequest.self, from: try await body(request, context))
        let job = try {
            var job = try asyncJob(from: body)
            job.owner = Self.owner(context)
            return job
        }()
        let timeout = (job.deadlineAt ?? job.createdAt) - job.createdAt
        // Remembered until its result could have expired, so that GET can tell pending from unknown.
        // `timeout` was validated (at most a day), so the conversion cannot trap.
        let ttl = Int(saturating: timeout) + settings.redis.replyTTLSeconds + 60
        let owner = Self.owner(context)
        let commands = self.commands, producer = self.producer, keys = self.keys
        let maxQueueLength = settings.gateway.maxQueueLength, replyTTL = settings.redis.replyTTLSeconds
        _ = try await withRedisDeadline {
            try await commands.send("SET", RedisArgument(keys.accepted(job.id)), RedisArgument(owner), "EX", RedisArgument(ttl))
        }
        switch try await withRedisDeadline({ try await producer.enqueue(job, maxQueueLength: maxQueueLength) }) {
        case .queued:
            break
        case .cached(let result):
            // The answer exists already; store it where GET (and the stream's reader) looks.
            let bytes = Array(try JSONEncoder().encode(result))
            let end = job.stream ? StreamEntry.endCommands(key: keys.stream(job.id), ttlSeconds: replyTTL, result: bytes) : []
            _ = try await withRedisDeadline {
                try await commands.transaction(
                    [
                        RedisCommand("LPUSH", RedisArgument(job.replyTo), RedisArgument(bytes: bytes)),
                        RedisCommand("EXPIRE", RedisArgument(job.replyTo), RedisArgument(replyTTL)),
                    ] + end)
            }
        case .full:
            _ = try? await withRedisDeadline { try await commands.send("DEL", RedisArgument(keys.accepted(job.id))) }
            throw Self.queueFull
        }
        logRequest(job, result: nil, endpoint: "/api/jobs", status: 202)
        let accepted = GatewayResponse.written { w in
            w.object { w in
                w.key("id"); w.string(job.id)
                w.key("status"); w.string("queued")
                w.key("status_url"); w.string("/api/jobs/\(job.id)")
                if job.stream { w.key("stream_url"); w.string("/api/jobs/\(job.id)/stream") }
                w.key("route")
                w.object { w in
                    w.key("tier"); w.int(job.route?.tier ?? 0)
                    w.key("reason"); w.string(job.route?.reason ?? "")
                }
            }
        }
        return GatewayResponse.bytes(accepted, status: .accepted, headers: [:])
    }

    /// The job an `/api/jobs` request (or a group's child) describes, its fields checked.
    func asyncJob(from body: AsyncJobRequest) throws -> Job {
        var messages = body.messages ?? []
        if messages.isEmpty, let message = body.message, !message.isEmpty {
            messages = Self.contextMessages(body.context) + [ChatMessage(role: "user", content: message)]
        }
        guard !messages.isEmpty else { throw Self.invalid("send messages (a list) or message (a string)") }
        let timeout = body.timeoutSeconds ?? settings.producer.jobTimeoutSeconds
        let params = GenerationParameters(
            maxTokens: body.maxTokens, temperature: body.temperature, tools: body.tools, toolChoice: body.toolChoice,
            responseFormat: body.responseFormat, parallelToolCalls: body.parallelToolCalls, seed: body.seed)
        try validated { validator in
            try validator.check(messages: messages)
            try validator.check(tools: body.tools, toolChoice: body.toolChoice, responseFormat: body.responseFormat)
            try validator.check(params: params)
            try validator.check(timeoutSeconds: timeout)
            if let context = body.context { try validator.check(free: .object(context), at: "context") }
            if let metadata = body.metadata { try validator.check(free: .object(metadata), at: "metadata") }
        }
        var job = try makeJob(
            messages: messages, tierHint: body.tierHint ?? "auto", forceModel: body.forceModel, enableFallback: body.enableFallback ?? true,
            params: params, cache: body.cache ?? true, timeoutSeconds: timeout, metadata: body.metadata ?? [:], stream: body.stream == true
        )
        job.priority = try Self.priority(body.priority, default: .interactive)
        return job
    }

    /// A request's `priority`: `interactive` or `bulk` (docs/PROTOCOL.md, "Lanes").
    static func priority(_ name: String?, default fallback: JobPriority) throws -> JobPriority {
        guard let name else { return fallback }
        guard let priority = JobPriority(rawValue: name) else { throw invalid("priority must be interactive or bulk") }
        return priority
    }

    /// `GET /api/jobs/{id}`: 200 with the result, 202 while pending, 404 unknown or expired.
    ///
    /// Another key's job, or a reply list that no accepted marker of the caller's covers (a
    /// synchronous request's), is 404 with the very body of an unknown id, so that nobody can
    /// learn which ids exist. The admin key sees every job, and a gateway without keys shows
    /// every job to its loopback clients, as before. A failed result's message is replaced
    /// by the fixed one for its code (`JobErrorTable`).
    func jobStatus(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        guard !id.isEmpty, id.utf8.count <= 200, !id.contains(":") else { throw Self.invalid("invalid job id") }
        let commands = self.commands, keys = self.keys
        let replies = try await withRedisDeadline {
            try await commands.pipeline([
                RedisCommand("LINDEX", RedisArgument(keys.reply(id)), 0), RedisCommand("GET", RedisArgument(keys.accepted(id))),
            ])
        }
        let owner = replies[1].string
        let visible: Bool
        switch context.caller {
        case .anonymous, .admin: visible = true
        case .user(let digest): visible = owner.map { Authenticator.constantTimeEquals($0, digest) } ?? false
        }
        let unknown = GatewayResponse.error(.notFound, code: "job_not_found", message: "no job \(id): unknown, or its result expired")
        guard visible else { return unknown }
        if let bytes = replies[0].bytes {
            return Self.publicResult(bytes, id: id)
        }
        if owner != nil {
            return GatewayResponse.json(["id": id, "status": "pending"], status: .accepted)
        }
        return unknown
    }

    /// A stored result as a client may see it: an answer unchanged, a failure with its fixed
    /// message.
    static func publicResult(_ bytes: [UInt8], id: String) -> Response {
        let result = (try? JobResult.decode(bytes)) ?? .failure(id: id, code: "bad_result", message: "")
        if result.ok { return GatewayResponse.bytes(bytes, status: .ok, headers: [:]) }
        return GatewayResponse.encoded(JobErrorTable.redacted(result), status: .ok)
    }
}
