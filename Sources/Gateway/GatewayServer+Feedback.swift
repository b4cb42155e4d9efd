import ControlPlane
import Foundation
import Hummingbird
import JobProtocol
import Metrics
import RedisClient
import Scoring

/// `POST /api/feedback`'s body (report 6.1, "user satisfaction: thumbs up/down").
struct FeedbackRequest: Decodable, HonouredFields {
    var jobID: String
    var rating: String
    var score: Int?
    var comment: String?

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", rating, score, comment
    }

    static let honoured: Set<String> = ["job_id", "rating", "score", "comment"]
}

extension GatewayServer {
    /// `POST /api/feedback`: the key that submitted a job rates its answer, once.
    ///
    /// The worker kept the answer's gate record (`cervella:gate:<id>`: owner, tier, model, task
    /// type, confidence, and the small model's features when its answer was the one returned)
    /// for `routing.feedback_window_seconds`. Another key's job, an unknown one, and one past
    /// the window are the same 404, so nobody learns which ids exist. The rating is counted per
    /// tier and model (hourly stats, `cervella_feedback_total`), and a rating of a small-model
    /// answer becomes a labelled outcome in `cervella:outcomes` for `cervella calibrate`.
    func feedback(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let body = try decode(FeedbackRequest.self, from: try await body(request, context))
        // The id as each route shows it: /api/chat's `id`, OpenAI's `chatcmpl-<id>`, Anthropic's `msg_<id>`.
        let id = ["chatcmpl-", "msg_"].reduce(body.jobID) { id, prefix in id.hasPrefix(prefix) ? String(id.dropFirst(prefix.count)) : id }
        guard !id.isEmpty, id.utf8.count <= 200, !id.contains(":") else { throw Self.invalid("job_id must be a job id of 1 to 200 bytes") }
        let good: Bool
        switch body.rating {
        case "up": good = true
        case "down": good = false
        default: throw Self.invalid("rating must be \"up\" or \"down\"")
        }
        if let score = body.score, !(1...5).contains(score) { throw Self.invalid("score must be a whole number from 1 to 5") }
        if let comment = body.comment, comment.count > LabelledOutcome.maxComment {
            throw Self.invalid("comment is over \(LabelledOutcome.maxComment) characters")
        }
        let unknown = Refusal(
            response: GatewayResponse.error(
                .notFound, code: "job_not_found",
                message: "no answer of job \(id) to rate: unknown, another key's, served from the cache, or older than the feedback window"))
        let commands = self.commands, keys = self.keys, window = settings.routing.feedbackWindowSeconds
        guard window > 0 else {
            throw Refusal(
                response: GatewayResponse.error(
                    .notFound, code: "feedback_disabled", message: "feedback is off on this pool (routing.feedback_window_seconds = 0)"))
        }
        let stored = try await withRedisDeadline { try await commands.send("GET", RedisArgument(keys.gateRecord(id))) }
        guard let bytes = stored.bytes, let record = GateRecord.parse(bytes),
            Authenticator.constantTimeEquals(record.owner, Self.owner(context))
        else { throw unknown }
        // One rating per job: the first one stands.
        let first = try await withRedisDeadline {
            try await commands.send("SET", RedisArgument(keys.rated(id)), RedisArgument(body.rating), "NX", "EX", RedisArgument(window))
        }
        guard first.string == "OK" else {
            throw Refusal(
                response: GatewayResponse.error(.conflict, code: "already_rated", message: "the answer of job \(id) was rated already"))
        }
        let now = Date()
        let outcome = record.outcome(jobID: id, good: good, score: body.score, comment: body.comment, at: now.timeIntervalSince1970)
        let tier = "tier\(record.tier)"
        let model = String(record.model.prefix(200))
        var increments = HourlyStats.Increments()
        increments.integers["feedback_\(body.rating):\(tier):\(model)"] = 1
        var writes = HourlyStats.commands(for: increments, keys: keys, hour: HourlyStats.hourKey(now))
        if let outcome {
            writes.append(OutcomeStream.append(outcome, keys: keys, maxLength: settings.routing.outcomesMaxLength))
        }
        let pipeline = writes
        _ = try await withRedisDeadline { try await commands.pipeline(pipeline) }
        Counter(label: "cervella_feedback_total", dimensions: [("tier", "\(record.tier)"), ("model", model), ("rating", body.rating)]).increment()
        return GatewayResponse.json(
            ["job_id": id, "status": "recorded", "rating": body.rating, "labelled_outcome": outcome != nil], status: .created)
    }
}
