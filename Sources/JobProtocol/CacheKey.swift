import Foundation

/// The exact-match cache key of a job: SHA-256 of a canonical form of everything that can
/// change the answer.
///
/// What goes in: the messages, the sampling parameters, the model choice (`force_model`, or
/// the routed model) and the tier hint. What stays out: ids, timestamps, deadlines, metadata.
/// The canonical form is JSON with sorted keys and no spaces, written by this one function, so
/// the producer (which looks the key up) and the worker (which fills it) always agree.
public enum CacheKey {
    private struct Identity: Encodable {
        var messages: [ChatMessage]
        var params: GenerationParameters
        var model: String
        var tierHint: String

        enum CodingKeys: String, CodingKey { case messages, params, model, tierHint = "tier_hint" }
    }

    public static func digest(for job: Job) -> String {
        let identity = Identity(
            messages: job.messages, params: job.params,
            model: job.forceModel ?? job.route?.model ?? "", tierHint: job.tierHint
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, numbers and arrays cannot fail.
        let bytes = (try? encoder.encode(identity)) ?? Data()
        return SHA256.hex(bytes)
    }
}
