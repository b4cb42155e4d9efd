import ControlPlane
import Foundation
import Hummingbird
import JobProtocol
import RedisClient

extension GatewayServer {
    /// `POST /api/jobs`: enqueue and answer 202 with the id, for batch and orchestration callers.
    func submitJob(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let body = try decode(AsyncJobRequest.self, from: try await body(request, context))
        var messages = body.messages ?? []
        if messages.isEmpty, let message = body.message, !message.isEmpty {
            messages = Self.contextMessages(body.context) + [ChatMessage(role: "user", content: message)]
        }
        guard !messages.isEmpty else {
            throw Refusal(response: GatewayResponse.error(.badRequest, code: "invalid_request", message: "send messages (a list) or message (a string)"))
        }
        let timeout = body.timeoutSeconds ?? settings.producer.jobTimeoutSeconds
        guard timeout > 0, timeout <= 86_400 else {
            throw Refusal(response: GatewayResponse.error(.badRequest, code: "invalid_request", message: "timeout_seconds must be in (0, 86400]"))
        }
        let job = try makeJob(
            messages: messages, tierHint: body.tierHint ?? "auto", forceModel: body.forceModel, enableFallback: body.enableFallback ?? true,
            params: GenerationParameters(maxTokens: body.maxTokens, temperature: body.temperature), cache: body.cache ?? true,
            timeoutSeconds: timeout, metadata: body.metadata ?? [:]
        )
        // Remembered until its result could have expired, so that GET can tell pending from unknown.
        let ttl = Int(timeout) + settings.redis.replyTTLSeconds + 60
        try await commands.send("SET", RedisArgument(keys.accepted(job.id)), "1", "EX", RedisArgument(ttl))
        switch try await producer.enqueue(job, maxQueueLength: settings.gateway.maxQueueLength) {
        case .queued:
            break
        case .cached(let result):
            // The answer exists already; store it where GET looks.
            let bytes = Array(try JSONEncoder().encode(result))
            _ = try await commands.transaction([
                RedisCommand("LPUSH", RedisArgument(job.replyTo), RedisArgument(bytes: bytes)),
                RedisCommand("EXPIRE", RedisArgument(job.replyTo), RedisArgument(settings.redis.replyTTLSeconds)),
            ])
        case .full:
            _ = try? await commands.send("DEL", RedisArgument(keys.accepted(job.id)))
            throw Refusal(response: GatewayResponse.error(.serviceUnavailable, code: "queue_full", message: "the queue is full; retry shortly", headers: [GatewayResponse.retryAfter: "1"]))
        }
        logRequest(job, result: nil, endpoint: "/api/jobs", status: 202)
        return GatewayResponse.json(["id": job.id, "status": "queued", "status_url": "/api/jobs/\(job.id)", "route": ["tier": job.route?.tier ?? 0, "reason": job.route?.reason ?? ""]], status: .accepted)
    }

    /// `GET /api/jobs/{id}`: 200 with the result, 202 while pending, 404 unknown or expired.
    func jobStatus(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        guard !id.isEmpty, id.utf8.count <= 200, !id.contains(":") else {
            throw Refusal(response: GatewayResponse.error(.badRequest, code: "invalid_request", message: "invalid job id"))
        }
        let replies = try await commands.pipeline([
            RedisCommand("LINDEX", RedisArgument(keys.reply(id)), 0), RedisCommand("EXISTS", RedisArgument(keys.accepted(id))),
        ])
        if let bytes = replies[0].bytes {
            return GatewayResponse.bytes(bytes, status: .ok, headers: [:])
        }
        if replies[1].integer == 1 {
            return GatewayResponse.json(["id": id, "status": "pending"], status: .accepted)
        }
        return GatewayResponse.error(.notFound, code: "job_not_found", message: "no job \(id): unknown, or its result expired")
    }

    // MARK: - Admin (report 4.2)

    func adminStats() async throws -> Response {
        let report = try await StatsReport.load(connection: commands, keys: keys)
        return GatewayResponse.json(report.json(settings: settings))
    }

    func adminConfig() async throws -> Response {
        GatewayResponse.json(ConfigReport.json(settings: settings, overrides: try await store.read()))
    }

    func toggleTier(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let toggle = try decode(ToggleTierRequest.self, from: try await body(request, context))
        guard (1...3).contains(toggle.tier) else {
            throw Refusal(response: GatewayResponse.error(.badRequest, code: "invalid_request", message: "tier must be 1, 2 or 3"))
        }
        try await store.set(["tier\(toggle.tier)_enabled": toggle.enabled ? "true" : "false"], by: "gateway")
        await live.refresh()
        logger.notice("tier toggled through the admin API", metadata: ["cervella.tier": "\(toggle.tier)", "cervella.enabled": "\(toggle.enabled)"])
        return GatewayResponse.json(["tier": toggle.tier, "enabled": toggle.enabled, "message": "Tier \(toggle.tier) \(toggle.enabled ? "enabled" : "disabled")"])
    }

    func rollback() async throws -> Response {
        try await store.emergencyRollback(by: "gateway")
        await live.refresh()
        logger.critical("EMERGENCY ROLLBACK: all requests routing to Claude")
        return GatewayResponse.json([
            "status": "rolled_back", "message": "All self-hosted tiers disabled, routing 100% to Claude",
            "timestamp": UTCTime(Date()).iso8601,
        ])
    }

    // MARK: - Health

    /// 200 when Redis answers and every enabled tier's queue has a live worker; 503 otherwise,
    /// with the details either way.
    func readiness() async -> Response {
        var checks: [String: Any] = [:]
        var ready = true
        do {
            _ = try await commands.send("PING")
            checks["redis"] = "ok"
            var served = Set<String>()
            // Workers are found through the registry of processing lists (one per worker and
            // queue), not by scanning a keyspace that holds a done marker per recent job.
            let lists = try await commands.send("SMEMBERS", RedisArgument(keys.processingLists)).array?.compactMap(\.string) ?? []
            let listPrefix = keys.prefix + ":processing:"
            let workerIDs = Set(lists.compactMap { list -> String? in
                guard list.hasPrefix(listPrefix), let colon = list.dropFirst(listPrefix.count).firstIndex(of: ":") else { return nil }
                return String(list[list.index(after: colon)...])
            }).sorted()
            var alive = 0
            if !workerIDs.isEmpty {
                let values = try await commands.send(RedisCommand("MGET", arguments: workerIDs.map { RedisArgument(keys.worker($0)) })).array ?? []
                for value in values {
                    guard let bytes = value.bytes, let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                          let queues = object["queues"] as? String else { continue }
                    alive += 1
                    served.formUnion(queues.split(separator: ",").map(String.init))
                }
            }
            checks["workers"] = alive
            let flags = live.current
            var tiers: [String: String] = [:]
            for tier in 1...3 where flags.isEnabled(tier) {
                let ok = served.contains("tier\(tier)")
                tiers["tier\(tier)"] = ok ? "ok" : "no live worker serves queue tier\(tier)"
                ready = ready && ok
            }
            checks["tiers"] = tiers
        } catch {
            ready = false
            checks["redis"] = "unreachable: \(error)"
        }
        return GatewayResponse.json(["ready": ready, "checks": checks], status: ready ? .ok : .serviceUnavailable)
    }
}
