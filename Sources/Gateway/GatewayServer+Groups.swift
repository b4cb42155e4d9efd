import Foundation
import Hummingbird
import JobProtocol
import Producer
import RedisClient

/// Job groups over HTTP (docs/GATEWAY.md, "Job groups"): fan-out with one request, fan-in on
/// one key. A group and its children belong to the key that submitted them.
extension GatewayServer {
    /// `POST /api/groups`: every child enqueued, or none; 202 with the group's id.
    func submitGroup(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let data = try await body(request, context)
        let body = try decode(GroupRequest.self, from: data)
        if case .object(let root)? = JSONValue.read(Array(data)), case .array(let requests)? = root["requests"] {
            for (index, element) in requests.enumerated() {
                guard case .object(let fields) = element, let problem = FieldCheck.problem(fields: fields, for: AsyncJobRequest.self) else {
                    continue
                }
                throw Refusal(response: GatewayResponse.error(.badRequest, code: "unsupported_parameter", message: "requests[\(index)]: \(problem)"))
            }
        }
        var spec = try Self.groupSpec(body)
        spec.priority = try Self.priority(body.priority, default: .bulk)
        let timeout = body.timeoutSeconds ?? settings.producer.jobTimeoutSeconds
        try validated { try $0.check(timeoutSeconds: timeout) }
        var children: [Job] = []
        children.reserveCapacity(body.requests.count)
        for (index, child) in body.requests.enumerated() {
            if child.stream == true {
                throw Self.invalid("requests[\(index)]: 'stream' is not available for a group's children; stream a job alone with POST /api/jobs")
            }
            if child.priority != nil {
                throw Self.invalid("requests[\(index)]: 'priority' is the group's (every child waits in the group's lane); set it at the top level")
            }
            if child.timeoutSeconds != nil {
                throw Self.invalid(
                    "requests[\(index)]: 'timeout_seconds' is the group's (every child has the group's deadline); set it at the top level")
            }
            do {
                var job = try asyncJob(from: child)
                job.owner = Self.owner(context)
                children.append(job)
            } catch let refusal as Refusal {
                throw refusal.prefixed("requests[\(index)]: ")
            }
        }
        let group: JobGroup
        do {
            group = try producer.makeGroup(children, spec: spec, timeoutSeconds: timeout)
        } catch {
            throw Self.invalid(error.description)
        }
        let owner = Self.owner(context)
        // Each child can be read (and cancelled) on its own, by the same key.
        let ttl = Int(saturating: timeout) + settings.redis.replyTTLSeconds + 60
        let markers = group.children.map {
            RedisCommand("SET", RedisArgument(keys.accepted($0.id)), RedisArgument(owner), "EX", RedisArgument(ttl))
        }
        let commands = self.commands, producer = self.producer
        _ = try await withRedisDeadline { try await commands.pipeline(markers) }
        try await withRedisDeadline { try await producer.submitGroup(group, owner: owner) }
        logger.info(
            "group submitted",
            metadata: [
                "cervella.group.id": "\(group.id)", "cervella.group.children": "\(group.children.count)",
                "cervella.group.wait": "\(spec.waitName)",
            ])
        let accepted = GatewayResponse.written { w in
            w.object { w in
                w.key("id"); w.string(group.id)
                w.key("status"); w.string("open")
                w.key("status_url"); w.string("/api/groups/\(group.id)")
                w.key("reply_key"); w.string(group.replyTo)
                w.key("deadline_at"); w.double(group.deadlineAt)
                w.key("children")
                w.array(group.children) { w, child in
                    w.object { w in
                        w.key("id"); w.string(child.id)
                        w.key("tier"); w.int(child.route?.tier ?? 0)
                    }
                }
            }
        }
        return GatewayResponse.bytes(accepted, status: .accepted, headers: [:])
    }

    /// `GET /api/groups/{id}`: the group's progress, or its result once done; 404 for an
    /// unknown or expired group, or another key's.
    func groupStatus(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let (id, report) = try await ownedGroup(context)
        guard let report else { return Self.groupNotFound(id) }
        return GatewayResponse.bytes(Self.groupJSON(report), status: .ok, headers: [:])
    }

    /// The group named in the path and its report; nil when it is unknown, expired, or another
    /// key's (all three answered alike, so that nobody learns which ids exist).
    private func ownedGroup(_ context: GatewayRequestContext) async throws -> (String, GroupReport?) {
        let id = try Self.groupID(context)
        let producer = self.producer
        guard let (report, owner) = try await withRedisDeadline({ try await producer.groupStatusWithOwner(id) }),
            Self.mayAct(on: owner, context: context)
        else { return (id, nil) }
        return (id, report)
    }

    /// `DELETE /api/groups/{id}`: 202 when this ended the group (its children are being
    /// cancelled), 409 when it had ended, 404 unknown.
    func cancelGroup(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let (id, report) = try await ownedGroup(context)
        guard report != nil else { return Self.groupNotFound(id) }
        let producer = self.producer
        switch try await withRedisDeadline({ try await producer.cancelGroup(id) }) {
        case .cancelled:
            logger.info("group cancelled by its client", metadata: ["cervella.group.id": "\(id)"])
            return GatewayResponse.json(["id": id, "status": "cancelled"], status: .accepted)
        case .alreadyEnded:
            return GatewayResponse.error(.conflict, code: "group_finished", message: "group \(id) has already ended; there is nothing to cancel")
        case .unknown:
            return Self.groupNotFound(id)
        }
    }

    static func groupSpec(_ body: GroupRequest) throws -> GroupSpec {
        let onFailure: GroupSpec.OnFailure
        switch body.onFailure ?? "continue" {
        case "continue": onFailure = .continue
        case "fail_fast": onFailure = .failFast
        default: throw invalid("on_failure must be continue or fail_fast")
        }
        switch body.wait ?? "all" {
        case "all":
            if body.n != nil { throw invalid("'n' goes with wait: first_n; wait: all waits for every child") }
            return GroupSpec(wait: .all, onFailure: onFailure)
        case "first_n":
            guard let n = body.n else { throw invalid("wait: first_n needs n, the number of children to wait for") }
            return GroupSpec(wait: .firstN(n), onFailure: onFailure)
        default:
            throw invalid("wait must be all or first_n")
        }
    }

    static func groupID(_ context: GatewayRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard !id.isEmpty, id.utf8.count <= JobLimits.maxIDLength, !id.contains(":") else { throw invalid("invalid group id") }
        return id
    }

    static func mayAct(on owner: String, context: GatewayRequestContext) -> Bool {
        switch context.caller {
        case .anonymous, .admin: return true
        case .user(let digest): return Authenticator.constantTimeEquals(owner, digest)
        }
    }

    static func groupNotFound(_ id: String) -> Response {
        GatewayResponse.error(.notFound, code: "group_not_found", message: "no group \(id): unknown, or it expired")
    }

    /// A group's report as a client sees it: failed children with their fixed messages.
    static func groupJSON(_ report: GroupReport) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return GatewayResponse.written { w in
            w.object { w in
                w.key("id"); w.string(report.id)
                w.key("state"); w.string(report.state)
                if let ok = report.ok { w.key("ok"); w.bool(ok) }
                if let reason = report.reason { w.key("reason"); w.string(reason) }
                if let error = report.error {
                    w.key("error")
                    w.object { w in
                        w.key("code"); w.string(error.code)
                        w.key("message"); w.string(error.message)
                    }
                }
                w.key("total"); w.int(report.total)
                w.key("succeeded"); w.int(report.succeeded)
                w.key("failed"); w.int(report.failed)
                w.key("cancelled"); w.int(report.cancelled)
                w.key("pending"); w.int(report.pending)
                w.key("wait"); w.string(report.wait)
                w.key("n"); w.int(report.n)
                w.key("on_failure"); w.string(report.onFailure)
                w.key("results")
                w.array(report.results) { w, result in
                    let data = (try? encoder.encode(JobErrorTable.redacted(result))) ?? Data("null".utf8)
                    w.value(JSONValue.read(Array(data)) ?? .null)
                }
                w.key("cancelled_children")
                w.array(report.cancelledChildren) { w, child in w.string(child) }
            }
        }
    }
}
