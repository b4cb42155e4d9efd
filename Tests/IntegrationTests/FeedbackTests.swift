import CervellaTestSupport
import ControlPlane
import CurlHTTP
import Foundation
import JobProtocol
import RedisClient
import Scoring
import Testing

/// Report 6.1's "user satisfaction: thumbs up/down": `POST /api/feedback`, from the key that
/// submitted the job only, once, counted per tier and model, and a labelled outcome for
/// `cervella calibrate` when the small model's answer was rated.
@Suite(.timeLimit(.minutes(3))) struct FeedbackTests {
    @Test func theSubmittingKeyRatesAnAnswerOnceAndASmallModelAnswerBecomesALabelledOutcome() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let chat = try await client.send(
                "POST", "/api/chat",
                json: #"{"message":"Formatta questa lista in markdown: uno, due, tre, quattro, cinque.\n#sim openai logprob=-0.2"}"#)
            #expect(chat.status == 200)
            let answer = client.object(chat)
            let id = try #require(answer["id"] as? String)
            let metadata = try #require(answer["metadata"] as? [String: Any])
            #expect(metadata["tier"] as? Int == 1 && metadata["fallback"] as? Bool == false)

            // Another key learns nothing: the body of an unknown id.
            let stranger = try await client.send("POST", "/api/feedback", json: #"{"job_id":"\#(id)","rating":"up"}"#, key: Hardening.otherKey)
            #expect(stranger.status == 404 && client.errorCode(stranger) == "job_not_found")
            let unknown = try await client.send("POST", "/api/feedback", json: #"{"job_id":"no-such-job","rating":"up"}"#)
            #expect(
                unknown.status == 404
                    && client.errorMessage(unknown) == client.errorMessage(stranger).replacingOccurrences(of: id, with: "no-such-job"))
            // Bad input is refused, naming the field.
            let sideways = try await client.send("POST", "/api/feedback", json: #"{"job_id":"\#(id)","rating":"sideways"}"#)
            #expect(sideways.status == 400 && client.errorMessage(sideways).contains("rating"))
            let stars = try await client.send("POST", "/api/feedback", json: #"{"job_id":"\#(id)","rating":"up","score":7}"#)
            #expect(stars.status == 400 && client.errorMessage(stars).contains("score"))
            let extra = try await client.send("POST", "/api/feedback", json: #"{"job_id":"\#(id)","rating":"up","mood":"happy"}"#)
            #expect(extra.status == 400 && client.errorCode(extra) == "unsupported_parameter")

            let rated = try await client.send(
                "POST", "/api/feedback", json: #"{"job_id":"\#(id)","rating":"up","score":5,"comment":"chiaro"}"#)
            #expect(rated.status == 201)
            #expect(client.object(rated)["labelled_outcome"] as? Bool == true)
            let again = try await client.send("POST", "/api/feedback", json: #"{"job_id":"\#(id)","rating":"down"}"#)
            #expect(again.status == 409 && client.errorCode(again) == "already_rated")

            // The outcome carries the answer's features as the gate saw them.
            let (outcomes, skipped) = try await OutcomeStream.read(connection: pool.redis, keys: pool.keys, limit: 100)
            #expect(skipped == 0 && outcomes.count == 1)
            let outcome = try #require(outcomes.first)
            #expect(outcome.id == id && outcome.source == .feedback && outcome.good && outcome.score == 5 && outcome.comment == "chiaro")
            #expect(outcome.tier == 1 && outcome.model == "qwen3-4b" && outcome.taskType == "simple_task_pattern_matched")
            #expect(abs((outcome.features.probabilities?.mean ?? 0) - exp(-0.2)) < 0.001)
            #expect(outcome.confidence == metadata["confidence"] as? Double)

            // Claude's answer (OpenAI's id form) is counted but teaches nothing about the small model.
            let forced = try await client.send(
                "POST", "/v1/chat/completions",
                json: #"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Explain the plan to the team."}]}"#)
            #expect(forced.status == 200)
            let completionID = try #require(client.object(forced)["id"] as? String)
            #expect(completionID.hasPrefix("chatcmpl-"))
            let down = try await client.send("POST", "/api/feedback", json: #"{"job_id":"\#(completionID)","rating":"down"}"#)
            #expect(down.status == 201 && client.object(down)["labelled_outcome"] as? Bool == false)
            #expect(try await OutcomeStream.read(connection: pool.redis, keys: pool.keys, limit: 100).outcomes.count == 1)

            let stats = try await StatsReport.load(connection: pool.redis, keys: pool.keys).json(settings: pool.settings)
            let feedback = try #require(stats["feedback"] as? [String: [String: [String: Any]]])
            #expect(feedback["tier_1"]?["qwen3-4b"]?["up"] as? Int == 1 && feedback["tier_1"]?["qwen3-4b"]?["satisfaction"] as? Double == 1)
            let claudeModel = pool.settings.tier(.claude).model
            #expect(feedback["tier_3"]?[claudeModel]?["down"] as? Int == 1)
            await gateway.stop()
            client.http.shutdown()
        }
    }

    /// A job from another producer (no owner), or with feedback off, has no answer to rate.
    @Test func aJobWithoutAnOwnerCannotBeRated() async throws {
        try await withTestPool { pool in
            let (gateway, client) = try await Hardening.start(pool)
            let result = try await pool.ask("Formatta questa lista in markdown: sei, sette, otto, nove, dieci.", cache: false)
            #expect(result.ok)
            #expect(try await pool.redis.send("EXISTS", RedisArgument(pool.keys.gateRecord(result.id))).integer == 0)
            let rated = try await client.send("POST", "/api/feedback", json: #"{"job_id":"\#(result.id)","rating":"up"}"#)
            #expect(rated.status == 404)
            await gateway.stop()
            client.http.shutdown()
        }
    }
}
