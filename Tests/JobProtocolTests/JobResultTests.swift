import Foundation
import JobProtocol
import Testing

@Suite struct JobResultTests {
    static let metadataFieldNames: Set<String> = [
        "model_used", "tier", "latency_ms", "queue_ms", "confidence", "cost_usd", "tokens_input", "tokens_output",
        "fallback", "fallback_reason", "original_model", "original_confidence", "tier_decision_reason", "cache_hit",
        "worker", "timestamp",
    ]

    static func metadata() -> ResultMetadata {
        ResultMetadata(
            modelUsed: "qwen3-4b", tier: 1, latencyMs: 342, queueMs: 3, confidence: nil, costUSD: 0.0008,
            tokensInput: 75, tokensOutput: 210, tierDecisionReason: "simple_task_pattern_matched",
            worker: "host:123", timestamp: "2026-01-10T14:23:45Z"
        )
    }

    static func object(_ result: JobResult) throws -> [String: Any] {
        let data = try JSONEncoder().encode(result)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func successCarriesResponseAndMetadataAndNoError() throws {
        let object = try Self.object(.success(id: "j1", response: "Ciao!", metadata: Self.metadata()))
        #expect(Set(object.keys) == ["v", "id", "ok", "response", "metadata"])
        #expect(object["v"] as? Int == 1)
        #expect(object["id"] as? String == "j1")
        #expect(object["ok"] as? Bool == true)
        #expect(object["response"] as? String == "Ciao!")
    }

    @Test func successMetadataWritesEveryFieldWithNullsForAbsentValues() throws {
        let object = try Self.object(.success(id: "j1", response: "x", metadata: Self.metadata()))
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(Set(metadata.keys) == Self.metadataFieldNames)
        #expect(metadata["confidence"] is NSNull)
        #expect(metadata["fallback_reason"] is NSNull)
        #expect(metadata["original_model"] is NSNull)
        #expect(metadata["original_confidence"] is NSNull)
        #expect(metadata["fallback"] as? Bool == false)
        #expect(metadata["cache_hit"] as? Bool == false)
        #expect(metadata["latency_ms"] as? Int == 342)
        #expect(metadata["cost_usd"] as? Double == 0.0008)
        #expect(metadata["tier_decision_reason"] as? String == "simple_task_pattern_matched")
    }

    @Test func fallbackMetadataCarriesReasonOriginalModelAndConfidence() throws {
        var metadata = Self.metadata()
        metadata.modelUsed = "claude-sonnet-4-5"
        metadata.tier = 3
        metadata.fallback = true
        metadata.fallbackReason = "low_confidence_0.55"
        metadata.originalModel = "qwen3-4b"
        metadata.originalConfidence = 0.55
        let object = try Self.object(.success(id: "j1", response: "x", metadata: metadata))
        let written = try #require(object["metadata"] as? [String: Any])
        #expect(written["fallback"] as? Bool == true)
        #expect(written["fallback_reason"] as? String == "low_confidence_0.55")
        #expect(written["original_model"] as? String == "qwen3-4b")
        #expect(written["original_confidence"] as? Double == 0.55)
    }

    @Test func optionalExtrasAreWrittenOnlyWhenPresent() throws {
        let plain = try #require(try Self.object(.success(id: "j1", response: "x", metadata: Self.metadata()))["metadata"] as? [String: Any])
        #expect(plain["reasoning_chars"] == nil)
        #expect(plain["fallback_suppressed"] == nil)

        var metadata = Self.metadata()
        metadata.reasoningChars = 812
        metadata.fallbackSuppressed = "low_confidence_0.40"
        let extras = try #require(try Self.object(.success(id: "j1", response: "x", metadata: metadata))["metadata"] as? [String: Any])
        #expect(extras["reasoning_chars"] as? Int == 812)
        #expect(extras["fallback_suppressed"] as? String == "low_confidence_0.40")
    }

    @Test func failureCarriesErrorAndNoResponseOrMetadata() throws {
        let object = try Self.object(.failure(id: "j1", code: "provider_unavailable", message: "no tier-3 endpoint answered"))
        #expect(Set(object.keys) == ["v", "id", "ok", "error"])
        #expect(object["ok"] as? Bool == false)
        let error = try #require(object["error"] as? [String: Any])
        #expect(error["code"] as? String == "provider_unavailable")
        #expect(error["message"] as? String == "no tier-3 endpoint answered")
    }

    @Test func failureIgnoresAResponseSetByMistake() throws {
        var result = JobResult.failure(id: "j1", code: "deadline_exceeded", message: "late")
        result.response = "should not be written"
        let object = try Self.object(result)
        #expect(object["response"] == nil)
    }

    @Test func successAndFailureSurviveARoundTrip() throws {
        var metadata = Self.metadata()
        metadata.confidence = 0.92
        metadata.cacheHit = true
        for result in [
            JobResult.success(id: "a", response: "risposta", metadata: metadata),
            JobResult.failure(id: "b", code: "invalid_job", message: "missing required field 'messages'"),
        ] {
            let decoded = try JSONDecoder().decode(JobResult.self, from: try JSONEncoder().encode(result))
            #expect(decoded == result)
        }
    }

    @Test func theDocumentedResultExamplesDecode() throws {
        let blocks = try ProtocolDocument.jsonBlocks()
        let resultBlock = try #require(blocks.first { $0.contains(#""ok":true"#) }, "docs/PROTOCOL.md has no result example")
        // The block holds two results: the success spans several lines, the failure is the last line.
        let lines = resultBlock.split(separator: "\n")
        let failureLine = try #require(lines.last)
        let successText = lines.dropLast().joined(separator: "\n")

        let success = try JSONDecoder().decode(JobResult.self, from: Data(successText.utf8))
        #expect(success.ok)
        #expect(success.metadata?.modelUsed == "qwen3-4b")
        #expect(success.metadata?.confidence == 0.92)
        #expect(success.metadata?.fallbackReason == nil)
        #expect(success.metadata?.timestamp == "2026-01-10T14:23:45Z")
        #expect(success.error == nil)

        let failure = try JSONDecoder().decode(JobResult.self, from: Data(failureLine.utf8))
        #expect(!failure.ok)
        #expect(failure.error == ResultError(code: "provider_unavailable", message: "..."))
        #expect(failure.response == nil)
    }
}
