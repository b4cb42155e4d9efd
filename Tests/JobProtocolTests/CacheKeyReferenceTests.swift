import Foundation
import Testing

@testable import JobProtocol

/// The cache key is written directly now; JSONEncoder with `.sortedKeys`, its old
/// implementation, stays the reference, so every key a deployment has cached stays valid.
@Suite struct CacheKeyReferenceTests {
    private struct Identity: Encodable {
        var messages: [ChatMessage]
        var params: GenerationParameters
        var model: String
        var tierHint: String
        enum CodingKeys: String, CodingKey { case messages, params, model, tierHint = "tier_hint" }
    }

    static func reference(_ job: Job) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let identity = Identity(messages: job.messages, params: job.params, model: job.forceModel ?? job.route?.model ?? "", tierHint: job.tierHint)
        return Array((try? encoder.encode(identity)) ?? Data())
    }

    static let texts = [
        "Summarize: a/b", "ciao", "", "tab\tnew\nline\r \"q\" back\\slash", "\u{1}\u{8}\u{c}\u{1f}\u{7f}", "é 日本 😀 e\u{301}", "</script>",
    ]
    static let doubles: [Double] = [0, 1, 2, 0.7, 1.0e-7, 0.1 + 0.2, 1e15, 1e16, 123456.5, -0.0, 2]

    @Test func theDirectWriterMatchesTheReferenceByteForByte() {
        var random = JobDecodingFuzzTests.Generator(state: 0xCAC4E)
        var jobs = JSONWriterTests.sampleJobs() + [CacheKeyTests.baseJob()]
        for index in 0..<2_000 {
            var messages: [ChatMessage] = []
            for _ in 0...Int.random(in: 0...3, using: &random) {
                let text = Self.texts.randomElement(using: &random)!
                if Bool.random(using: &random) {
                    messages.append(ChatMessage(role: ["user", "system", "assistant"].randomElement(using: &random)!, content: text))
                } else {
                    let number = Self.doubles.randomElement(using: &random)!
                    let part: JSONValue = .object([
                        "type": .string("image_url"), "image_url": .object(["url": .string(text), "detail": .null]),
                        "n": .number(number), "i": .integer(Int64(index)), "flag": .bool(index % 2 == 0),
                        "list": .array([.string(text), .number(number)]),
                    ])
                    messages.append(ChatMessage(role: "user", content: .parts([.object(["type": .string("text"), "text": .string(text)]), part])))
                }
            }
            let params = GenerationParameters(
                maxTokens: Bool.random(using: &random) ? Int.random(in: 1...4096, using: &random) : nil,
                temperature: Bool.random(using: &random) ? Self.doubles.randomElement(using: &random)! : nil,
                topP: Bool.random(using: &random) ? Self.doubles.randomElement(using: &random)! : nil,
                stop: Bool.random(using: &random) ? [Self.texts.randomElement(using: &random)!] : nil,
                expectedFormat: Bool.random(using: &random) ? "json" : nil
            )
            jobs.append(
                Job(
                    id: "k\(index)", replyTo: "cervella:reply:k\(index)", createdAt: 1_767_225_600, deadlineAt: nil, messages: messages,
                    params: params,
                    tierHint: ["auto", "simple", "complex"].randomElement(using: &random)!,
                    forceModel: Bool.random(using: &random) ? "claude-sonnet-4-5" : nil,
                    route: Route(tier: 1, model: "qwen3-4b", reason: "r")
                ))
        }
        var mismatches = 0
        for job in jobs where CacheKey.canonicalIdentity(of: job) != Self.reference(job) {
            mismatches += 1
            if mismatches <= 3 {
                Issue.record(
                    "\(String(decoding: CacheKey.canonicalIdentity(of: job), as: UTF8.self)) != \(String(decoding: Self.reference(job), as: UTF8.self))"
                )
            }
        }
        #expect(mismatches == 0)
    }
}
